//! The brief, end to end: projects in two regions, members invited directly and through
//! teams, a default role for everyone, a delegated project Admin who manages project
//! access but not teams, and every member's grants with their sources.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tally_testkit::api::{Api, PASSWORD};
use tally_testkit::backends;

use super::world::{Tenant, names, tenant};
use crate::support::Instance;

async fn regional_server(instance: &Instance) -> tally_testkit::TallyProcess {
    instance.serve_with(&[], &[("TALLY_REGIONS", "us,eu"), ("TALLY_INVITATIONS_PER_DOMAIN_PER_HOUR", "100000")]).await
}

fn grants_of(members: &Value, email: &str) -> BTreeSet<(String, String)> {
    let member =
        members.as_array().unwrap().iter().find(|m| m["label"] == email).unwrap_or_else(|| panic!("{email} listed"));
    member["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["source"].as_str().unwrap().to_string(), g["role"].as_str().unwrap().to_string()))
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

async fn create_project(owner: &Api, org: i64, name: &str, region: &str) -> i64 {
    let reply = owner
        .post(
            &format!("/api/app/organizations/{org}/projects"),
            json!({ "name": name, "region": region, "timezone": "Europe/Paris" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    assert_eq!(reply.results()["region"], region);
    reply.results()["id"].as_i64().unwrap()
}

#[tokio::test]
async fn the_brief_production_and_development_teams_default_role_and_a_delegated_admin() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let server = regional_server(&instance).await;
        let Tenant { owner, org_id: org, .. } = tenant(&instance, &server, "owner@acme.example", "Acme").await;

        // Production in the EU, Development in the US; residency is fixed.
        let production = create_project(&owner, org, "Web Production", "eu").await;
        let development = create_project(&owner, org, "Web Development", "us").await;
        let moved = owner.patch(&format!("/api/app/projects/{production}"), json!({ "region": "us" })).await;
        assert_eq!(moved.status, StatusCode::BAD_REQUEST);
        assert_eq!(moved.code(), "invalid_region");
        assert!(moved.body["error"].as_str().unwrap().contains("fixed at creation"), "{moved:?}");
        let renamed = owner.patch(&format!("/api/app/projects/{production}"), json!({ "name": "Web (prod)" })).await;
        assert_eq!(renamed.results()["region"], "eu");

        // A team of analysts on Production, and everyone a Consumer of Development.
        let team = owner.post(&format!("/api/app/organizations/{org}/teams"), json!({ "name": "Analysts" })).await;
        let team_id = team.results()["id"].as_i64().unwrap();
        let assigned = owner
            .put(
                &format!("/api/app/organizations/{org}/teams/{team_id}/projects/{production}"),
                json!({ "role": "analyst" }),
            )
            .await;
        assert_eq!(assigned.status, StatusCode::OK);
        let default =
            owner.put(&format!("/api/app/projects/{development}/default-role"), json!({ "role": "consumer" })).await;
        assert_eq!(default.status, StatusCode::OK);

        // Members: one invited straight into Production, one through the team, and a
        // project Admin for Production to delegate to.
        let (direct, _) = owner
            .invite_and_accept(org, "dana@acme.example", "member", json!([{ "id": production, "role": "consumer" }]))
            .await;
        let (via_team, via_team_id) = owner.invite_and_accept(org, "tom@acme.example", "member", json!([])).await;
        owner
            .post(&format!("/api/app/organizations/{org}/teams/{team_id}/members"), json!({ "user_id": via_team_id }))
            .await;
        let (delegate, _) = owner
            .invite_and_accept(org, "pat@acme.example", "member", json!([{ "id": production, "role": "admin" }]))
            .await;

        // Each member's grants, with their sources, as the project lists them.
        let members = owner.get(&format!("/api/app/projects/{production}/members")).await;
        let members = members.results();
        assert_eq!(
            grants_of(members, "owner@acme.example"),
            pairs(&[("organization_role", "owner"), ("individual", "owner")])
        );
        assert_eq!(grants_of(members, "dana@acme.example"), pairs(&[("individual", "consumer")]));
        assert_eq!(grants_of(members, "tom@acme.example"), pairs(&[("team:Analysts", "analyst")]));
        assert_eq!(grants_of(members, "pat@acme.example"), pairs(&[("individual", "admin")]));
        let dev_members = owner.get(&format!("/api/app/projects/{development}/members")).await;
        for email in ["dana@acme.example", "tom@acme.example", "pat@acme.example"] {
            assert_eq!(grants_of(dev_members.results(), email), pairs(&[("all_users", "consumer")]), "{email}");
        }

        // The default role reaches members who join later.
        let (late, _) = owner.invite_and_accept(org, "lee@acme.example", "member", json!([])).await;
        let permissions = late.get(&format!("/api/app/projects/{development}/permissions")).await;
        assert_eq!(permissions.results()["grants"], json!([{ "source": "all_users", "role": "consumer" }]));
        assert_eq!(late.get(&format!("/api/app/projects/{production}/permissions")).await.code(), "no_project_access");

        // The delegated project Admin manages project access...
        let lee_id = late.get("/api/app/me").await.results()["user"]["id"].as_i64().unwrap();
        let added = delegate
            .put(&format!("/api/app/projects/{production}/members/users/{lee_id}"), json!({ "role": "analyst" }))
            .await;
        assert_eq!(added.status, StatusCode::OK, "{added:?}");
        assert!(
            names(&late.get(&format!("/api/app/projects/{production}/permissions")).await.results()["permissions"])
                .contains("export_events")
        );
        // ...but only up to Admin,
        let owner_role = delegate
            .put(&format!("/api/app/projects/{production}/members/users/{lee_id}"), json!({ "role": "owner" }))
            .await;
        assert_eq!(owner_role.status, StatusCode::FORBIDDEN, "{owner_role:?}");
        // cannot touch teams,
        let new_team = delegate.post(&format!("/api/app/organizations/{org}/teams"), json!({ "name": "Mine" })).await;
        assert_eq!(new_team.status, StatusCode::FORBIDDEN);
        let team_change = delegate
            .put(
                &format!("/api/app/organizations/{org}/teams/{team_id}/projects/{production}"),
                json!({ "role": "admin" }),
            )
            .await;
        assert_eq!(team_change.status, StatusCode::FORBIDDEN);
        // cannot remove access that comes through a team,
        let through_team =
            delegate.delete(&format!("/api/app/projects/{production}/members/users/{via_team_id}")).await;
        assert_eq!(through_team.status, StatusCode::CONFLICT, "{through_team:?}");
        assert!(through_team.body["error"].as_str().unwrap().contains("Analysts"));
        assert!(via_team.get(&format!("/api/app/projects/{production}/permissions")).await.status.is_success());
        // and has no say in Development, where the Admin is only a Consumer.
        let elsewhere = delegate
            .put(&format!("/api/app/projects/{development}/members/users/{lee_id}"), json!({ "role": "analyst" }))
            .await;
        assert_eq!(elsewhere.status, StatusCode::FORBIDDEN);
        // Removing an individual grant below one's own level works.
        let removed = delegate.delete(&format!("/api/app/projects/{production}/members/users/{lee_id}")).await;
        assert_eq!(removed.status, StatusCode::OK);

        // Deleting the team revokes only what came through it.
        owner
            .put(&format!("/api/app/projects/{production}/members/users/{via_team_id}"), json!({ "role": "consumer" }))
            .await;
        assert_eq!(owner.delete(&format!("/api/app/organizations/{org}/teams/{team_id}")).await.status, StatusCode::OK);
        let after = owner.get(&format!("/api/app/projects/{production}/members")).await;
        assert_eq!(grants_of(after.results(), "tom@acme.example"), pairs(&[("individual", "consumer")]));
        drop(direct);

        // The audit log saw all of it.
        let log = owner.get(&format!("/api/app/organizations/{org}/audit-log")).await;
        let types: BTreeSet<String> =
            log.results().as_array().unwrap().iter().map(|r| r["event_type"].as_str().unwrap().to_string()).collect();
        for expected in [
            "project.created",
            "project.updated",
            "team.created",
            "team.user_added",
            "team.deleted",
            "project.team_added",
            "project.default_access_granted",
            "invitation.sent",
            "invitation.accepted",
            "project.user_added",
            "project.user_removed",
        ] {
            assert!(types.contains(expected), "{backend:?}: audit log lacks {expected}: {types:?}");
        }
    }
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_changes_nothing() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let server = regional_server(&instance).await;
        let Tenant { owner, org_id: org, projects, .. } =
            tenant(&instance, &server, "owner@acme.example", "Acme").await;
        let production = projects[0];
        let cases = [
            (
                owner.post(&format!("/api/app/organizations/{org}/projects"), json!({ "name": "Production" })).await,
                409,
                "conflict",
            ),
            (
                owner
                    .post(
                        &format!("/api/app/organizations/{org}/projects"),
                        json!({ "name": "X", "timezone": "Mars/Base" }),
                    )
                    .await,
                400,
                "invalid_timezone",
            ),
            (
                owner
                    .post(&format!("/api/app/organizations/{org}/projects"), json!({ "name": "X", "region": "moon" }))
                    .await,
                400,
                "invalid_region",
            ),
            (
                owner.post(&format!("/api/app/organizations/{org}/projects"), json!({ "name": "  " })).await,
                400,
                "invalid_name",
            ),
            (
                owner.post(&format!("/api/app/organizations/{org}/teams"), json!({ "name": "" })).await,
                400,
                "invalid_name",
            ),
            (
                owner
                    .post(&format!("/api/app/organizations/{org}/invitations"), json!({ "email": "not-an-email" }))
                    .await,
                400,
                "invalid_email",
            ),
            (
                owner
                    .post(
                        &format!("/api/app/organizations/{org}/invitations"),
                        json!({ "email": "a@acme.example", "organization_role": "king" }),
                    )
                    .await,
                400,
                "invalid_role",
            ),
            (
                owner
                    .put(&format!("/api/app/projects/{production}/default-role"), json!({ "role": "superuser" }))
                    .await,
                400,
                "invalid_role",
            ),
            (
                owner
                    .put(&format!("/api/app/projects/{production}/default-role"), json!({ "role": "custom:nope" }))
                    .await,
                400,
                "invalid_role",
            ),
            (
                owner
                    .post(
                        &format!("/api/app/projects/{production}/custom-roles"),
                        json!({ "name": "R", "permissions": ["fly"] }),
                    )
                    .await,
                400,
                "invalid_permissions",
            ),
            (
                owner.patch(&format!("/api/app/projects/{production}"), json!({ "timezone": "nowhere" })).await,
                400,
                "invalid_timezone",
            ),
            (owner.get("/api/app/projects/not-a-number").await, 404, "not_found"),
        ];
        for (reply, status, code) in cases {
            assert_eq!(reply.status.as_u16(), status, "{reply:?}");
            assert_eq!(reply.code(), code, "{reply:?}");
            assert!(reply.body["error"].as_str().is_some_and(|message| !message.is_empty()));
        }
        // Nothing of the refused requests exists.
        let listed = owner.get(&format!("/api/app/organizations/{org}/projects")).await;
        assert_eq!(listed.results().as_array().unwrap().len(), 2);
        assert!(
            owner.get(&format!("/api/app/organizations/{org}/teams")).await.results().as_array().unwrap().is_empty()
        );
        assert!(
            owner
                .get(&format!("/api/app/organizations/{org}/invitations"))
                .await
                .results()
                .as_array()
                .unwrap()
                .is_empty()
        );

        // The last Owner cannot step down.
        let me = owner.get("/api/app/me").await.results()["user"]["id"].as_i64().unwrap();
        let demoted =
            owner.put(&format!("/api/app/organizations/{org}/members/{me}"), json!({ "role": "member" })).await;
        assert_eq!(demoted.status, StatusCode::CONFLICT, "{demoted:?}");
        assert_eq!(
            demoted.body["error"], "this is the last Owner of the organization; make someone else Owner first",
            "a message that reads as a sentence"
        );
        let left = owner.delete(&format!("/api/app/organizations/{org}/members/{me}")).await;
        assert_eq!(left.status, StatusCode::CONFLICT);
    }
}

#[tokio::test]
async fn bulk_invitations_by_csv_apply_good_rows_and_report_bad_ones() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let server = regional_server(&instance).await;
        let Tenant { owner, org_id: org, projects, .. } =
            tenant(&instance, &server, "owner@acme.example", "Acme").await;
        let csv = format!(
            "email,organization_role,projects,project_role\n\
             ann@acme.example,member,{p},analyst\n\
             not-an-email,member,,\n\
             bob@acme.example,wizard,,\n\
             cy@acme.example,admin,,\n\
             dee@acme.example,member,abc,consumer\n",
            p = projects[0]
        );
        let reply = owner.post_text(&format!("/api/app/organizations/{org}/invitations/csv"), "text/csv", &csv).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        let results = reply.results();
        assert_eq!(results["sent"], 2);
        assert_eq!(results["failed"], 3);
        let rows = results["rows"].as_array().unwrap();
        let status_of = |row: u64| rows.iter().find(|r| r["row"] == row).unwrap();
        assert_eq!(status_of(2)["status"], "ok");
        assert_eq!(status_of(3)["code"], "invalid_email");
        assert_eq!(status_of(4)["code"], "invalid_role");
        assert_eq!(status_of(5)["status"], "ok");
        assert_eq!(status_of(6)["code"], "invalid_input");
        assert!(status_of(6)["error"].as_str().unwrap().contains("row 6"), "{:?}", status_of(6));
        let open = owner.get(&format!("/api/app/organizations/{org}/invitations")).await;
        let emails: BTreeSet<&str> =
            open.results().as_array().unwrap().iter().map(|i| i["email"].as_str().unwrap()).collect();
        assert_eq!(emails, BTreeSet::from(["ann@acme.example", "cy@acme.example"]));

        // Copy a fresh link, resend, revoke: the old link stops working when a new one is made.
        let ann = open.results().as_array().unwrap().iter().find(|i| i["email"] == "ann@acme.example").unwrap()["id"]
            .as_i64()
            .unwrap();
        let first = owner.post(&format!("/api/app/organizations/{org}/invitations/{ann}/link"), json!({})).await;
        let first_link = first.results()["link"].as_str().unwrap().to_string();
        let second = owner.post(&format!("/api/app/organizations/{org}/invitations/{ann}/link"), json!({})).await;
        let second_link = second.results()["link"].as_str().unwrap().to_string();
        assert_ne!(first_link, second_link);
        // The link opens the app's invitation screen, which looks the token up.
        let lookup = |link: &str| {
            let token = link.split("token=").nth(1).unwrap().to_string();
            let anonymous = Api::anonymous(server.base_url());
            async move { anonymous.get(&format!("/api/app/invitations/lookup?token={token}")).await }
        };
        assert!(first_link.starts_with(&format!("{}/invitations/accept?token=", server.base_url())), "{first_link}");
        assert_eq!(lookup(&first_link).await.status, StatusCode::NOT_FOUND);
        let found = lookup(&second_link).await;
        assert_eq!(found.status, StatusCode::OK);
        assert_eq!(found.results()["organization"], "Acme");
        assert_eq!(found.results()["email"], "ann@acme.example");
        assert_eq!(found.results()["has_account"], false);
        assert_eq!(
            owner.post(&format!("/api/app/organizations/{org}/invitations/{ann}/resend"), json!({})).await.status,
            StatusCode::OK
        );
        assert_eq!(
            owner.delete(&format!("/api/app/organizations/{org}/invitations/{ann}")).await.status,
            StatusCode::OK
        );
        let token = second_link.split("token=").nth(1).unwrap();
        let accept = Api::anonymous(server.base_url())
            .post("/api/app/invitations/accept", json!({ "token": token, "password": PASSWORD }))
            .await;
        assert_eq!(accept.status, StatusCode::NOT_FOUND, "a revoked invitation cannot be accepted: {accept:?}");
    }
}

#[tokio::test]
async fn invitations_to_one_domain_are_rate_limited() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let server = instance.serve_with(&[], &[("TALLY_INVITATIONS_PER_DOMAIN_PER_HOUR", "2")]).await;
        let Tenant { owner, org_id: org, .. } = tenant(&instance, &server, "owner@acme.example", "Acme").await;
        for n in 0..2 {
            let reply = owner
                .post(
                    &format!("/api/app/organizations/{org}/invitations"),
                    json!({ "email": format!("p{n}@big.example") }),
                )
                .await;
            assert_eq!(reply.status, StatusCode::CREATED);
        }
        let third = owner
            .post(&format!("/api/app/organizations/{org}/invitations"), json!({ "email": "p3@big.example" }))
            .await;
        assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS, "{third:?}");
        assert_eq!(third.code(), "rate_limited");
        let other = owner
            .post(&format!("/api/app/organizations/{org}/invitations"), json!({ "email": "p@small.example" }))
            .await;
        assert_eq!(other.status, StatusCode::CREATED, "other domains are not held up");
    }
}

#[tokio::test]
async fn an_existing_account_accepts_an_invitation_only_signed_in_as_itself() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let server = regional_server(&instance).await;
        let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
        let beta = tenant(&instance, &server, "owner@beta.example", "Beta").await;
        let invite = beta
            .owner
            .post(
                &format!("/api/app/organizations/{}/invitations", beta.org_id),
                json!({ "email": "owner@acme.example" }),
            )
            .await;
        let token = invite.results()["link"].as_str().unwrap().split("token=").nth(1).unwrap().to_string();
        let stranger = Api::anonymous(server.base_url());
        // The invitation screen learns that the address has an account (which must sign in
        // as itself), and for which organization.
        let lookup = stranger.get(&format!("/api/app/invitations/lookup?token={token}")).await;
        assert_eq!(lookup.status, StatusCode::OK, "{lookup:?}");
        assert_eq!(lookup.results()["has_account"], true);
        assert_eq!(lookup.results()["organization"], "Beta");
        let unknown = stranger.get("/api/app/invitations/lookup?token=nope").await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        assert_eq!(unknown.code(), "invitation_not_valid");
        let refused = stranger.post("/api/app/invitations/accept", json!({ "token": token })).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{refused:?}");
        assert_eq!(refused.code(), "sign_in_to_accept");
        let accepted = acme.owner.post("/api/app/invitations/accept", json!({ "token": token })).await;
        assert_eq!(accepted.status, StatusCode::CREATED, "{accepted:?}");
        assert_eq!(accepted.results()["account_created"], false);
        assert_eq!(stranger.get("/api/app/me").await.status, StatusCode::UNAUTHORIZED, "the link is no sign-in");
        let me = acme.owner.get("/api/app/me").await;
        let orgs: BTreeSet<&str> =
            me.results()["organizations"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
        assert_eq!(orgs, BTreeSet::from(["Acme", "Beta"]));
    }
}

#[tokio::test]
async fn access_requests_are_approved_with_a_role_or_denied() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let server = regional_server(&instance).await;
        let Tenant { owner, org_id: org, projects, .. } =
            tenant(&instance, &server, "owner@acme.example", "Acme").await;
        let production = projects[0];
        let (asker, _) = owner.invite_and_accept(org, "ask@acme.example", "member", json!([])).await;
        let (other, _) = owner.invite_and_accept(org, "other@acme.example", "member", json!([])).await;
        let request = asker
            .post(&format!("/api/app/projects/{production}/access-requests"), json!({ "message": "for the Q3 report" }))
            .await;
        assert_eq!(request.status, StatusCode::CREATED, "{request:?}");
        let again = asker.post(&format!("/api/app/projects/{production}/access-requests"), json!({})).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "one pending request at a time");
        let denied_request = other.post(&format!("/api/app/projects/{production}/access-requests"), json!({})).await;

        let listed = owner.get(&format!("/api/app/projects/{production}/access-requests")).await;
        assert_eq!(listed.results().as_array().unwrap().len(), 2);
        // Members cannot see or answer requests.
        assert_eq!(
            asker.get(&format!("/api/app/projects/{production}/access-requests")).await.status,
            StatusCode::FORBIDDEN
        );

        let id = request.results()["id"].as_i64().unwrap();
        let approved = owner
            .post(&format!("/api/app/projects/{production}/access-requests/{id}/approve"), json!({ "role": "analyst" }))
            .await;
        assert_eq!(approved.status, StatusCode::OK, "{approved:?}");
        let permissions = asker.get(&format!("/api/app/projects/{production}/permissions")).await;
        assert_eq!(permissions.results()["grants"], json!([{ "source": "individual", "role": "analyst" }]));
        let twice = owner
            .post(&format!("/api/app/projects/{production}/access-requests/{id}/approve"), json!({ "role": "analyst" }))
            .await;
        assert_eq!(twice.status, StatusCode::CONFLICT);

        let other_id = denied_request.results()["id"].as_i64().unwrap();
        let denied =
            owner.post(&format!("/api/app/projects/{production}/access-requests/{other_id}/deny"), json!({})).await;
        assert_eq!(denied.status, StatusCode::OK);
        assert_eq!(other.get(&format!("/api/app/projects/{production}/permissions")).await.code(), "no_project_access");

        let log = owner.get(&format!("/api/app/projects/{production}/audit-log")).await;
        let types: Vec<&str> =
            log.results().as_array().unwrap().iter().map(|r| r["event_type"].as_str().unwrap()).collect();
        assert!(types.contains(&"access_request.approved") && types.contains(&"access_request.denied"), "{types:?}");
    }
}

#[tokio::test]
async fn custom_roles_grant_their_permissions_and_deleting_one_demotes_to_consumer() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let server = regional_server(&instance).await;
        let Tenant { owner, org_id: org, projects, .. } =
            tenant(&instance, &server, "owner@acme.example", "Acme").await;
        let (production, development) = (projects[0], projects[1]);
        let created = owner
            .post(
                &format!("/api/app/projects/{production}/custom-roles"),
                json!({ "name": "Exporter", "description": "reads and exports", "permissions": ["view_reports", "export_events", "export_users"] }),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
        let role_id = created.results()["id"].as_str().unwrap().to_string();
        let role_key = format!("custom:{role_id}");
        let (user, user_id) = owner
            .invite_and_accept(org, "exp@acme.example", "member", json!([{ "id": production, "role": role_key }]))
            .await;
        let held =
            names(&user.get(&format!("/api/app/projects/{production}/permissions")).await.results()["permissions"]);
        assert!(
            held.contains("export_events") && held.contains("export_users") && !held.contains("edit_project_settings"),
            "{held:?}"
        );

        // Only five per project; names are unique; default names are taken.
        for n in 0..4 {
            let reply = owner
                .post(&format!("/api/app/projects/{production}/custom-roles"), json!({ "name": format!("R{n}") }))
                .await;
            assert_eq!(reply.status, StatusCode::CREATED);
        }
        let sixth = owner.post(&format!("/api/app/projects/{production}/custom-roles"), json!({ "name": "R6" })).await;
        assert_eq!(sixth.status, StatusCode::CONFLICT, "{sixth:?}");
        let clash =
            owner.post(&format!("/api/app/projects/{development}/custom-roles"), json!({ "name": "analyst" })).await;
        assert_eq!(clash.status, StatusCode::BAD_REQUEST);

        // A project Admin cannot put Owner-only permissions into a role.
        let (admin, _) = owner
            .invite_and_accept(org, "adm@acme.example", "member", json!([{ "id": development, "role": "admin" }]))
            .await;
        let grab = admin
            .post(
                &format!("/api/app/projects/{development}/custom-roles"),
                json!({ "name": "Grab", "permissions": ["delete_project"] }),
            )
            .await;
        assert_eq!(grab.status, StatusCode::FORBIDDEN, "{grab:?}");

        // Copy to Development.
        let copy = owner
            .post(
                &format!("/api/app/projects/{production}/custom-roles/{role_id}/copy"),
                json!({ "project_id": development }),
            )
            .await;
        assert_eq!(copy.status, StatusCode::CREATED, "{copy:?}");
        assert_eq!(copy.results()["copied_from_role_id"], json!(role_id));
        assert_eq!(copy.results()["permissions"], created.results()["permissions"]);

        // Deleting the role moves its holder to Consumer.
        assert_eq!(
            owner.delete(&format!("/api/app/projects/{production}/custom-roles/{role_id}")).await.status,
            StatusCode::OK
        );
        let after = user.get(&format!("/api/app/projects/{production}/permissions")).await;
        assert_eq!(after.results()["grants"], json!([{ "source": "individual", "role": "consumer" }]), "{backend:?}");
        assert!(!names(&after.results()["permissions"]).contains("export_events"));
        let _ = user_id;
    }
}

#[tokio::test]
async fn service_accounts_authenticate_by_basic_auth_and_see_only_their_projects() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let server = regional_server(&instance).await;
        let Tenant { owner, org_id: org, projects, .. } =
            tenant(&instance, &server, "owner@acme.example", "Acme").await;
        let (production, development) = (projects[0], projects[1]);
        let reply = owner
            .post(
                &format!("/api/app/organizations/{org}/service-accounts"),
                json!({ "username": "etl-bot", "projects": [{ "id": production, "role": "analyst" }] }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
        let secret = reply.results()["token"].as_str().unwrap().to_string();
        let account_id = reply.results()["id"].as_i64().unwrap();
        assert_eq!(reply.results()["last_used"], Value::Null);
        // The secret is shown once.
        let listed = owner.get(&format!("/api/app/organizations/{org}/service-accounts")).await;
        assert!(!listed.body.to_string().contains(&secret));

        let bot = Api::service_account(server.base_url(), "etl-bot", &secret);
        let me = bot.get("/api/app/me").await;
        assert_eq!(me.results()["user"]["type"], "service_account");
        let visible: Vec<i64> = me.results()["organizations"][0]["projects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_i64().unwrap())
            .collect();
        assert_eq!(visible, vec![production]);
        assert_eq!(bot.get(&format!("/api/app/projects/{development}/permissions")).await.code(), "no_project_access");

        // Plain-text credentials in the header work too, as with Mixpanel; a wrong secret does not.
        let plain = tally_testkit::http_client(None)
            .get(format!("{}/api/app/me", server.base_url()))
            .header("authorization", format!("Basic etl-bot:{secret}"))
            .send()
            .await
            .unwrap();
        assert_eq!(plain.status(), StatusCode::OK);
        let wrong = Api::service_account(server.base_url(), "etl-bot", "not-the-secret").get("/api/app/me").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);

        let fetched = owner.get(&format!("/api/app/organizations/{org}/service-accounts/{account_id}")).await;
        assert!(fetched.results()["last_used"].is_string(), "last_used is recorded: {fetched:?}");

        // Project-level accounts are org Members of that project only; deleting one there deletes it.
        let local = owner
            .post(
                &format!("/api/app/projects/{development}/service-accounts"),
                json!({ "username": "dev-bot", "role": "consumer" }),
            )
            .await;
        assert_eq!(local.status, StatusCode::CREATED);
        assert_eq!(local.results()["organization_role"], "member");
        let local_id = local.results()["id"].as_i64().unwrap();
        let in_project = owner.get(&format!("/api/app/projects/{development}/service-accounts")).await;
        assert_eq!(in_project.results()[0]["role"], "consumer");
        assert_eq!(
            owner.delete(&format!("/api/app/projects/{development}/service-accounts/{local_id}")).await.status,
            StatusCode::OK
        );
        assert_eq!(
            owner.get(&format!("/api/app/organizations/{org}/service-accounts/{local_id}")).await.status,
            StatusCode::NOT_FOUND
        );

        // Expired accounts are refused; deleted ones too.
        let expiring = owner
            .post(
                &format!("/api/app/organizations/{org}/service-accounts"),
                json!({ "username": "old-bot", "expires": "2001-01-01T00:00:00Z" }),
            )
            .await;
        assert_eq!(expiring.status, StatusCode::BAD_REQUEST, "an expiry in the past is refused: {expiring:?}");
        assert_eq!(
            owner.delete(&format!("/api/app/organizations/{org}/service-accounts/{account_id}")).await.status,
            StatusCode::OK
        );
        assert_eq!(bot.get("/api/app/me").await.status, StatusCode::UNAUTHORIZED, "{backend:?}");

        let log =
            owner.get(&format!("/api/app/organizations/{org}/audit-log?event_type=service_account.created")).await;
        assert_eq!(log.results().as_array().unwrap().len(), 2);
    }
}

#[tokio::test]
async fn removing_a_member_takes_every_grant_and_session_at_once() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let server = regional_server(&instance).await;
        let Tenant { owner, org_id: org, projects, .. } =
            tenant(&instance, &server, "owner@acme.example", "Acme").await;
        let (member, user_id) = owner
            .invite_and_accept(org, "gone@acme.example", "member", json!([{ "id": projects[0], "role": "analyst" }]))
            .await;
        let team = owner.post(&format!("/api/app/organizations/{org}/teams"), json!({ "name": "T" })).await;
        let team_id = team.results()["id"].as_i64().unwrap();
        owner
            .post(&format!("/api/app/organizations/{org}/teams/{team_id}/members"), json!({ "user_id": user_id }))
            .await;
        assert_eq!(member.get("/api/app/me").await.status, StatusCode::OK);

        assert_eq!(
            owner.delete(&format!("/api/app/organizations/{org}/members/{user_id}")).await.status,
            StatusCode::OK
        );
        assert_eq!(
            member.get("/api/app/me").await.status,
            StatusCode::UNAUTHORIZED,
            "{backend:?}: sessions end at once"
        );
        let members = owner.get(&format!("/api/app/projects/{}/members", projects[0])).await;
        assert!(!members.body.to_string().contains("gone@acme.example"));
        let team = owner.get(&format!("/api/app/organizations/{org}/teams/{team_id}")).await;
        assert_eq!(team.results()["members"], json!([]));
        // Signing in again gives no access to the organization.
        let again = Api::sign_in(server.base_url(), "gone@acme.example", PASSWORD).await;
        assert_eq!(again.get(&format!("/api/app/organizations/{org}")).await.status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn project_lifecycle_keys_reset_transfer_and_delete() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let server = regional_server(&instance).await;
        let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
        let (owner, org) = (&acme.owner, acme.org_id);
        let production = acme.projects[0];

        let keys = owner.get(&format!("/api/app/projects/{production}/keys")).await;
        let secret = keys.results()["api_secret"].as_str().unwrap().to_string();
        let rotated = owner.post(&format!("/api/app/projects/{production}/keys/rotate"), json!({})).await;
        let new_secret = rotated.results()["api_secret"].as_str().unwrap().to_string();
        assert_ne!(secret, new_secret);
        assert_eq!(
            owner.get(&format!("/api/app/projects/{production}/keys")).await.results()["api_secret"],
            json!(new_secret)
        );

        let reset = owner.post(&format!("/api/app/projects/{production}/reset"), json!({})).await;
        assert_eq!(reset.results()["data_generation"], 1);

        // Transfer: members do not move.
        let (member, _) = owner
            .invite_and_accept(org, "m@acme.example", "member", json!([{ "id": production, "role": "analyst" }]))
            .await;
        let second = instance
            .command(&["admin", "bootstrap", "--email", "owner@acme.example", "--org", "Acme Two", "--json"], None)
            .await;
        let second: Value = serde_json::from_str(second.stdout.trim()).unwrap();
        let target = second["organization"]["id"].as_i64().unwrap();
        let transfer = format!("/api/app/projects/{production}/transfer");
        let clash = owner.post(&transfer, json!({ "organization_id": target })).await;
        assert_eq!(clash.status, StatusCode::CONFLICT, "Acme Two has a Production already: {clash:?}");
        owner.patch(&format!("/api/app/projects/{production}"), json!({ "name": "Production (moved)" })).await;
        let moved = owner.post(&transfer, json!({ "organization_id": target })).await;
        assert_eq!(moved.status, StatusCode::OK, "{moved:?}");
        assert_eq!(owner.get(&format!("/api/app/projects/{production}")).await.results()["organization_id"], target);
        assert_eq!(
            member.get(&format!("/api/app/projects/{production}/permissions")).await.status,
            StatusCode::NOT_FOUND
        );

        // Delete: unreachable at once.
        let deleted = owner.delete(&format!("/api/app/projects/{production}")).await;
        assert!(deleted.results()["purge_after"].is_string());
        assert_eq!(owner.get(&format!("/api/app/projects/{production}")).await.status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn billing_admins_manage_the_plan_and_see_usage() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let server = regional_server(&instance).await;
        let Tenant { owner, org_id: org, .. } = tenant(&instance, &server, "owner@acme.example", "Acme").await;
        let (billing, _) = owner.invite_and_accept(org, "pay@acme.example", "billing_admin", json!([])).await;
        let plan = billing.get(&format!("/api/app/organizations/{org}/billing")).await;
        assert_eq!(plan.results()["plan"], "free");
        assert_eq!(plan.results()["seats_used"], 2);
        let changed = billing
            .put(
                &format!("/api/app/organizations/{org}/billing"),
                json!({ "plan": "growth", "monthly_event_quota": 20_000_000, "seats": 25 }),
            )
            .await;
        assert_eq!(changed.status, StatusCode::OK);
        let plan = owner.get(&format!("/api/app/organizations/{org}/billing")).await;
        assert_eq!(plan.results()["monthly_event_quota"], 20_000_000);
        let bad = billing
            .put(
                &format!("/api/app/organizations/{org}/billing"),
                json!({ "plan": "x", "monthly_event_quota": -1, "seats": 1 }),
            )
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        // A Billing Admin has no project access by default.
        assert!(
            billing.get("/api/app/me").await.results()["organizations"][0]["projects"].as_array().unwrap().is_empty()
        );
    }
}

#[tokio::test]
async fn audit_log_filters_and_exports_csv_and_ndjson() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let server = regional_server(&instance).await;
        let Tenant { owner, org_id: org, owner_id, .. } =
            tenant(&instance, &server, "owner@acme.example", "Acme").await;
        for name in ["A", "B"] {
            owner.post(&format!("/api/app/organizations/{org}/teams"), json!({ "name": name })).await;
        }
        let log = owner.get(&format!("/api/app/organizations/{org}/audit-log?event_type=team.created")).await;
        let rows = log.results().as_array().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["actor"]["id"], owner_id);
        assert_eq!(rows[0]["actor"]["label"], "owner@acme.example");
        assert_eq!(rows[0]["ip"], "127.0.0.1");
        assert_eq!(rows[0]["after"]["name"], "B", "newest first");

        let by_actor = owner.get(&format!("/api/app/organizations/{org}/audit-log?actor_id={}", owner_id + 1000)).await;
        assert!(by_actor.results().as_array().unwrap().is_empty());
        let future = owner.get(&format!("/api/app/organizations/{org}/audit-log?from=2999-01-01T00:00:00Z")).await;
        assert!(future.results().as_array().unwrap().is_empty());
        let bad = owner.get(&format!("/api/app/organizations/{org}/audit-log?from=yesterday")).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);

        let csv = owner
            .request(
                reqwest::Method::GET,
                &format!("/api/app/organizations/{org}/audit-log?format=csv&event_type=team.created"),
            )
            .send()
            .await
            .unwrap();
        assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        let text = csv.text().await.unwrap();
        let mut lines = text.lines();
        assert!(lines.next().unwrap().starts_with("id,time,organization_id"));
        assert_eq!(lines.count(), 2);

        let ndjson = owner
            .request(
                reqwest::Method::GET,
                &format!("/api/app/organizations/{org}/audit-log?format=ndjson&event_type=team.created"),
            )
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let parsed: Vec<Value> = ndjson.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[1]["after"]["name"], "A");
    }
}
