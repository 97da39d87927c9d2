//! Each organization and project action of the spec, attempted over its real route by
//! every organization role and every project role, allowed or refused as the reference
//! table says.

use reqwest::StatusCode;
use serde_json::json;
use tally_testkit::api::{Api, Reply};
use tally_testkit::backends;

use super::reference::{implied_project_role, org_allows, project_role_allows};
use super::world::{Tenant, tenant};
use crate::support::Instance;

/// A principal under test: its organization role and, for project-role principals, the
/// individual role it holds on the tenant's Production project.
struct Subject {
    label: String,
    api: Api,
    org_role: &'static str,
    project_role: Option<&'static str>,
}

struct Counter(u32);

impl Counter {
    fn next(&mut self, prefix: &str) -> String {
        self.0 += 1;
        format!("{prefix}{}", self.0)
    }
}

async fn fresh_member(tenant: &Tenant, counter: &mut Counter) -> i64 {
    let email = format!("{}@acme.example", counter.next("fresh"));
    let (_, user_id) = tenant.owner.invite_and_accept(tenant.org_id, &email, "member", json!([])).await;
    user_id
}

fn assert_decision(reply: &Reply, allowed: bool, what: &str) {
    if allowed {
        assert!(reply.status.is_success(), "{what}: expected success, got {reply:?}");
    } else {
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{what}: expected 403, got {reply:?}");
    }
}

/// Attempts one organization action as `subject`.
async fn org_action(action: &str, subject: &Subject, tenant: &Tenant, counter: &mut Counter) -> Reply {
    let org = tenant.org_id;
    let api = &subject.api;
    match action {
        "view_organization" => api.get(&format!("/api/app/organizations/{org}")).await,
        "view_billing" => api.get(&format!("/api/app/organizations/{org}/billing")).await,
        "manage_billing" => {
            let body = json!({ "plan": "growth", "monthly_event_quota": 5_000_000, "seats": 50 });
            api.put(&format!("/api/app/organizations/{org}/billing"), body).await
        }
        "create_projects" => {
            api.post(&format!("/api/app/organizations/{org}/projects"), json!({ "name": counter.next("Project ") }))
                .await
        }
        "manage_teams" => {
            api.post(&format!("/api/app/organizations/{org}/teams"), json!({ "name": counter.next("Team ") })).await
        }
        "manage_members" => {
            let email = format!("{}@acme.example", counter.next("invitee"));
            api.post(&format!("/api/app/organizations/{org}/invitations"), json!({ "email": email })).await
        }
        "manage_service_accounts" => {
            let body = json!({ "username": counter.next("robot-") });
            api.post(&format!("/api/app/organizations/{org}/service-accounts"), body).await
        }
        "modify_org_roles" => {
            let user_id = fresh_member(tenant, counter).await;
            api.put(&format!("/api/app/organizations/{org}/members/{user_id}"), json!({ "role": "billing_admin" }))
                .await
        }
        "grant_org_owner" => {
            let user_id = fresh_member(tenant, counter).await;
            api.put(&format!("/api/app/organizations/{org}/members/{user_id}"), json!({ "role": "owner" })).await
        }
        "view_org_audit_log" => api.get(&format!("/api/app/organizations/{org}/audit-log")).await,
        "delete_projects" => {
            let project = tenant
                .owner
                .post(&format!("/api/app/organizations/{org}/projects"), json!({ "name": counter.next("Doomed ") }))
                .await;
            let project_id = project.results()["id"].as_i64().unwrap();
            api.delete(&format!("/api/app/projects/{project_id}")).await
        }
        other => panic!("no route exercises {other}"),
    }
}

/// Attempts one project action on `project_id` as `subject`.
async fn project_action(
    action: &str,
    subject: &Subject,
    tenant: &Tenant,
    project_id: i64,
    counter: &mut Counter,
) -> Reply {
    let api = &subject.api;
    let base = format!("/api/app/projects/{project_id}");
    match action {
        "view_project_settings" => api.get(&base).await,
        "edit_project_settings" => api.patch(&base, json!({ "timezone": "Europe/Paris" })).await,
        "view_access_keys" => api.get(&format!("{base}/keys")).await,
        "view_usage" => api.get(&format!("{base}/usage")).await,
        "view_reports" => api.get(&format!("{base}/lexicon")).await,
        "view_project_audit_log" => api.get(&format!("{base}/audit-log")).await,
        "manage_project_members" => {
            let user_id = fresh_member(tenant, counter).await;
            api.put(&format!("{base}/members/users/{user_id}"), json!({ "role": "consumer" })).await
        }
        "manage_project_service_accounts" => {
            api.post(
                &format!("{base}/service-accounts"),
                json!({ "username": counter.next("bot-"), "role": "consumer" }),
            )
            .await
        }
        "manage_custom_roles" => {
            let reply = api
                .post(
                    &format!("{base}/custom-roles"),
                    json!({ "name": counter.next("Role "), "permissions": ["view_reports"] }),
                )
                .await;
            if reply.status.is_success() {
                // At most five per project: clean up so the next subject can try.
                let role_id = reply.results()["id"].as_str().unwrap().to_string();
                let deleted = tenant.owner.delete(&format!("{base}/custom-roles/{role_id}")).await;
                assert!(deleted.status.is_success(), "{deleted:?}");
            }
            reply
        }
        "manage_project_security" => api.post(&format!("{base}/keys/rotate"), json!({})).await,
        "create_boards" => api.post(&format!("{base}/boards"), json!({ "title": counter.next("Board ") })).await,
        "save_reports" => {
            let board = own_board(api, tenant, &base, counter).await;
            let report = json!({ "type": "insights", "range": { "from_date": "2026-01-01", "to_date": "2026-01-02" },
                "metrics": [{ "event": "Page View" }] });
            api.post(
                &format!("{base}/bookmarks"),
                json!({ "board_id": board, "name": counter.next("Report "), "report": report }),
            )
            .await
        }
        "share_entities" => {
            let board = own_board(api, tenant, &base, counter).await;
            api.put(&format!("{base}/boards/{board}/sharing"), json!({ "shares": [], "project_access": "viewer" }))
                .await
        }
        "edit_lexicon" => {
            api.patch(&format!("{base}/lexicon/events/Checkout"), json!({ "description": counter.next("Described ") }))
                .await
        }
        "merge_drop_data" => {
            let name = counter.next("Dropped%20");
            api.put(&format!("{base}/lexicon/events/{name}/dropped"), json!({ "dropped": true })).await
        }
        "mark_classified_data" => {
            let name = counter.next("classified_");
            api.put(&format!("{base}/lexicon/properties/{name}/classified"), json!({ "classified": true })).await
        }
        "download_lexicon" => {
            let reply = api.request(reqwest::Method::GET, &format!("{base}/lexicon/export")).send().await.unwrap();
            tally_testkit::api::Reply { status: reply.status(), body: serde_json::Value::Null }
        }
        "edit_cohorts" => {
            let body =
                json!({ "name": counter.next("Cohort "), "definition": { "kind": "users", "distinct_ids": ["u1"] } });
            api.post(&format!("{base}/cohorts"), body).await
        }
        "export_cohorts" => {
            let path = format!("{base}/cohorts");
            let body = json!({ "name": counter.next("Exported "), "shared": false,
                "definition": { "kind": "users", "distinct_ids": ["u1"] } });
            let mine = api.post(&path, body.clone()).await;
            let made = if mine.status.is_success() { mine } else { tenant.owner.post(&path, body).await };
            let cohort = made.results()["id"].as_i64().unwrap();
            let reply = api.request(reqwest::Method::GET, &format!("{path}/{cohort}/export")).send().await.unwrap();
            tally_testkit::api::Reply { status: reply.status(), body: serde_json::Value::Null }
        }
        "manage_public_boards_feature" => api.put(&format!("{base}/public-boards"), json!({ "enabled": true })).await,
        "manage_privacy_requests" => api.get(&format!("{base}/privacy-requests")).await,
        "create_alerts" => {
            let board =
                tenant.owner.post(&format!("{base}/boards"), json!({ "title": counter.next("Alerting ") })).await;
            let report = json!({ "type": "insights", "range": { "from_date": "2026-01-01", "to_date": "2026-01-02" },
                "metrics": [{ "event": "Page View" }] });
            let bookmark = tenant
                .owner
                .post(
                    &format!("{base}/bookmarks"),
                    json!({ "board_id": board.results()["id"], "name": counter.next("Watched "), "report": report }),
                )
                .await;
            api.post(
                &format!("{base}/alerts"),
                json!({ "bookmark_id": bookmark.results()["id"], "condition": { "kind": "above", "value": 1 },
                    "emails": ["owner@acme.example"] }),
            )
            .await
        }
        "make_boards_public" => {
            let board = own_board(api, tenant, &base, counter).await;
            api.post(&format!("{base}/boards/{board}/public-links"), json!({})).await
        }
        "create_annotations" => {
            let body = json!({ "date": "2026-01-01 12:00:00", "description": counter.next("Note ") });
            api.post(&format!("{base}/annotations"), body).await
        }
        "reset_project" => api.post(&format!("{base}/reset"), json!({})).await,
        other => panic!("no route exercises {other}"),
    }
}

/// A board the subject may change: its own when it may make one, else the Owner's (which
/// the subject cannot reach anyway).
async fn own_board(api: &Api, tenant: &Tenant, base: &str, counter: &mut Counter) -> i64 {
    let path = format!("{base}/boards");
    let mine = api.post(&path, json!({ "title": counter.next("Own board ") })).await;
    let made = if mine.status.is_success() {
        mine
    } else {
        tenant.owner.post(&path, json!({ "title": counter.next("Owner's board ") })).await
    };
    made.results()["id"].as_i64().unwrap()
}

const ORG_ROUTE_ACTIONS: &[&str] = &[
    "view_organization",
    "view_billing",
    "manage_billing",
    "create_projects",
    "manage_teams",
    "manage_members",
    "manage_service_accounts",
    "modify_org_roles",
    "grant_org_owner",
    "view_org_audit_log",
    "delete_projects",
];

const PROJECT_ROUTE_ACTIONS: &[&str] = &[
    "view_project_settings",
    "edit_project_settings",
    "view_access_keys",
    "view_usage",
    "view_reports",
    "view_project_audit_log",
    "manage_project_members",
    "manage_project_service_accounts",
    "manage_custom_roles",
    "manage_project_security",
    "reset_project",
    "create_boards",
    "save_reports",
    "share_entities",
    "create_annotations",
    "manage_public_boards_feature",
    "manage_privacy_requests",
    "make_boards_public",
    "edit_cohorts",
    "export_cohorts",
    "edit_lexicon",
    "merge_drop_data",
    "download_lexicon",
    "mark_classified_data",
];

#[tokio::test]
async fn every_route_allows_exactly_what_the_reference_allows() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let server = super::world::server(&instance).await;
        let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
        let production = acme.projects[0];
        let mut counter = Counter(0);
        // Public links can be made (the Owner's switch is itself checked below).
        let on =
            acme.owner.put(&format!("/api/app/projects/{production}/public-boards"), json!({ "enabled": true })).await;
        assert!(on.status.is_success(), "{on:?}");

        let mut subjects = vec![Subject {
            label: "org owner (bootstrap)".into(),
            api: acme.owner.clone(),
            org_role: "owner",
            project_role: None,
        }];
        for org_role in ["owner", "admin", "billing_admin", "member"] {
            let email = format!("org-{org_role}@acme.example");
            let (api, _) = acme.owner.invite_and_accept(acme.org_id, &email, org_role, json!([])).await;
            subjects.push(Subject { label: email, api, org_role, project_role: None });
        }
        for project_role in ["owner", "admin", "analyst", "consumer"] {
            let email = format!("project-{project_role}@acme.example");
            let projects = json!([{ "id": production, "role": project_role }]);
            let (api, _) = acme.owner.invite_and_accept(acme.org_id, &email, "member", projects).await;
            subjects.push(Subject { label: email, api, org_role: "member", project_role: Some(project_role) });
        }

        for subject in &subjects {
            for action in ORG_ROUTE_ACTIONS {
                let reply = org_action(action, subject, &acme, &mut counter).await;
                let allowed = org_allows(subject.org_role, action);
                assert_decision(&reply, allowed, &format!("{backend:?} {} {action}", subject.label));
            }
            let held: Vec<&str> =
                implied_project_role(subject.org_role).into_iter().chain(subject.project_role).collect();
            for action in PROJECT_ROUTE_ACTIONS {
                let reply = project_action(action, subject, &acme, production, &mut counter).await;
                let allowed = held.iter().any(|role| project_role_allows(role, action));
                assert_decision(&reply, allowed, &format!("{backend:?} {} {action}", subject.label));
            }
            // Deleting a project: each subject tries on a fresh project where it holds
            // what it holds on Production.
            let fresh = acme
                .owner
                .post(
                    &format!("/api/app/organizations/{}/projects", acme.org_id),
                    json!({ "name": counter.next("Fresh ") }),
                )
                .await;
            let fresh_id = fresh.results()["id"].as_i64().unwrap();
            if let Some(role) = subject.project_role {
                let user = subject.api.get("/api/app/me").await;
                let user_id = user.results()["user"]["id"].as_i64().unwrap();
                let granted = acme
                    .owner
                    .put(&format!("/api/app/projects/{fresh_id}/members/users/{user_id}"), json!({ "role": role }))
                    .await;
                assert!(granted.status.is_success(), "{granted:?}");
            }
            let reply = subject.api.delete(&format!("/api/app/projects/{fresh_id}")).await;
            let allowed = held.iter().any(|role| project_role_allows(role, "delete_project"));
            assert_decision(&reply, allowed, &format!("{backend:?} {} delete_project", subject.label));
        }

        // Deleting the organization comes last: everyone else is refused first.
        for subject in subjects.iter().filter(|subject| subject.org_role != "owner") {
            let reply = subject.api.delete(&format!("/api/app/organizations/{}", acme.org_id)).await;
            assert_decision(&reply, false, &format!("{} delete_organization", subject.label));
        }
        let reply = acme.owner.delete(&format!("/api/app/organizations/{}", acme.org_id)).await;
        assert_decision(&reply, true, "owner delete_organization");
        let gone = acme.owner.get(&format!("/api/app/organizations/{}", acme.org_id)).await;
        assert_eq!(gone.status, StatusCode::NOT_FOUND, "a deleted organization is gone at once: {gone:?}");
    }
}
