//! Tenant isolation over the whole route inventory (read from `/api/openapi.json`, which is
//! generated from the router's own table): every principal of one organization, aimed at
//! the other organization's ids, gets 404 and changes nothing in the database. Each
//! refusal is paired with the same request by the rightful Owner, which succeeds.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::{Connection, Row};
use tally_testkit::api::{Api, Reply};
use tally_testkit::{TestBackend, backends};

use super::world::{Tenant, tenant};
use crate::support::Instance;

/// Ids of the other tenant's objects, made fresh for each route so that the control
/// request (which may delete them) does not disturb the next route.
#[derive(Default, Debug)]
struct Ids(BTreeMap<&'static str, String>);

async fn fixtures(path: &str, victim: &Tenant, n: &mut u32) -> Ids {
    *n += 1;
    let owner = &victim.owner;
    let org = victim.org_id;
    let mut ids = Ids::default();
    ids.0.insert("org_id", org.to_string());
    let needs = |name: &str| path.contains(&format!("{{{name}}}"));
    let mut project_id = victim.projects[0];
    if needs("project_id") {
        let reply = owner
            .post(&format!("/api/app/organizations/{org}/projects"), json!({ "name": format!("Victim {n}") }))
            .await;
        project_id = reply.results()["id"].as_i64().unwrap();
        ids.0.insert("project_id", project_id.to_string());
    }
    if needs("user_id") {
        let email = format!("victim-user-{n}@beta.example");
        let projects = json!([{ "id": project_id, "role": "consumer" }]);
        let (_, user_id) = owner.invite_and_accept(org, &email, "member", projects).await;
        ids.0.insert("user_id", user_id.to_string());
        if needs("team_id") {
            // A team member to remove.
            let team = owner
                .post(&format!("/api/app/organizations/{org}/teams"), json!({ "name": format!("Victims {n}") }))
                .await;
            let team_id = team.results()["id"].as_i64().unwrap();
            owner
                .post(&format!("/api/app/organizations/{org}/teams/{team_id}/members"), json!({ "user_id": user_id }))
                .await;
            ids.0.insert("team_id", team_id.to_string());
        }
    }
    if needs("team_id") && !ids.0.contains_key("team_id") {
        let team =
            owner.post(&format!("/api/app/organizations/{org}/teams"), json!({ "name": format!("Victims {n}") })).await;
        let team_id = team.results()["id"].as_i64().unwrap();
        if needs("project_id") {
            owner
                .put(
                    &format!("/api/app/organizations/{org}/teams/{team_id}/projects/{project_id}"),
                    json!({ "role": "analyst" }),
                )
                .await;
        }
        ids.0.insert("team_id", team_id.to_string());
    }
    if needs("service_account_id") {
        let body =
            json!({ "username": format!("victim-bot-{n}"), "projects": [{ "id": project_id, "role": "consumer" }] });
        let account = owner.post(&format!("/api/app/organizations/{org}/service-accounts"), body).await;
        let account_id = account.results()["id"].as_i64().unwrap();
        if needs("team_id") {
            let team_id = &ids.0["team_id"];
            owner
                .post(
                    &format!("/api/app/organizations/{org}/teams/{team_id}/members"),
                    json!({ "service_account_id": account_id }),
                )
                .await;
        }
        ids.0.insert("service_account_id", account_id.to_string());
    }
    if needs("invitation_id") {
        let reply = owner
            .post(
                &format!("/api/app/organizations/{org}/invitations"),
                json!({ "email": format!("victim-invite-{n}@beta.example") }),
            )
            .await;
        ids.0.insert("invitation_id", reply.results()["id"].to_string());
    }
    if needs("role_id") {
        let reply = owner
            .post(
                &format!("/api/app/projects/{project_id}/custom-roles"),
                json!({ "name": format!("Victim role {n}") }),
            )
            .await;
        ids.0.insert("role_id", reply.results()["id"].as_str().unwrap().to_string());
    }
    if needs("domain_id") {
        let reply = owner
            .post(
                &format!("/api/app/organizations/{org}/domains"),
                json!({ "domain": format!("victim-{n}.beta.example"), "password": tally_testkit::api::PASSWORD }),
            )
            .await;
        ids.0.insert("domain_id", reply.results()["id"].to_string());
    }
    if path.ends_with("/default-role") {
        owner.put(&format!("/api/app/projects/{project_id}/default-role"), json!({ "role": "consumer" })).await;
    }
    let alerts = path.contains("/alerts");
    if needs("board_id")
        || needs("bookmark_id")
        || path.ends_with("/bookmarks")
        || path.contains("public-links")
        || alerts
    {
        let board = owner
            .post(&format!("/api/app/projects/{project_id}/boards"), json!({ "title": format!("Victim board {n}") }))
            .await;
        let board_id = board.results()["id"].as_i64().unwrap();
        let card = owner
            .post(&format!("/api/app/projects/{project_id}/boards/{board_id}/cards"), json!({ "text": "victim" }))
            .await;
        ids.0.insert("board_id", board_id.to_string());
        ids.0.insert("card_id", card.results()["id"].to_string());
        if needs("bookmark_id") || alerts {
            let report = json!({ "type": "insights", "range": { "from_date": "2026-01-01", "to_date": "2026-01-02" },
                "metrics": [{ "event": "Page View" }] });
            let bookmark = owner
                .post(
                    &format!("/api/app/projects/{project_id}/bookmarks"),
                    json!({ "board_id": board_id, "name": format!("Victim report {n}"), "report": report }),
                )
                .await;
            ids.0.insert("bookmark_id", bookmark.results()["id"].to_string());
        }
    }
    if needs("alert_id") {
        let alert = owner
            .post(
                &format!("/api/app/projects/{project_id}/alerts"),
                json!({ "bookmark_id": ids.0["bookmark_id"].parse::<i64>().unwrap(), "name": format!("Victim alert {n}"),
                    "condition": { "kind": "above", "value": 1 }, "emails": ["owner@beta.example"] }),
            )
            .await;
        ids.0.insert("alert_id", alert.results()["id"].to_string());
    }
    if path.contains("public-links") {
        owner.put(&format!("/api/app/projects/{project_id}/public-boards"), json!({ "enabled": true })).await.results();
        if needs("link_id") {
            let board_id = &ids.0["board_id"];
            let link =
                owner.post(&format!("/api/app/projects/{project_id}/boards/{board_id}/public-links"), json!({})).await;
            ids.0.insert("link_id", link.results()["id"].to_string());
        }
    }
    if needs("cohort_id") {
        let cohort = owner
            .post(
                &format!("/api/app/projects/{project_id}/cohorts"),
                json!({ "name": format!("Victim cohort {n}"), "shared": true,
                    "definition": { "kind": "users", "distinct_ids": ["someone"] } }),
            )
            .await;
        ids.0.insert("cohort_id", cohort.results()["id"].to_string());
    }
    if needs("view_id") {
        let view = owner
            .post(
                &format!("/api/app/projects/{project_id}/data-views"),
                json!({ "name": format!("Victim view {n}"), "filters": { "events": ["Page View"] } }),
            )
            .await;
        ids.0.insert("view_id", view.results()["id"].to_string());
    }
    if needs("tracking_id") {
        let kind = if path.contains("/data-retrievals/") { "data-retrievals" } else { "data-deletions" };
        let asked = owner
            .post(&format!("/api/app/projects/{project_id}/{kind}"), json!({ "distinct_ids": [format!("victim-{n}")] }))
            .await;
        let tracking_id = asked.results()["task_id"].as_str().unwrap().to_string();
        {
            // Done before the walk (the runner's work is not an outsider's), and a download
            // is there once the retrieval is done.
            for _ in 0..300 {
                let status = owner.get(&format!("/api/app/projects/{project_id}/{kind}/{tracking_id}")).await;
                if status.results()["status"] == "SUCCESS" {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
        ids.0.insert("tracking_id", tracking_id);
    }
    if needs("entity_type") {
        ids.0.insert("entity_type", "event".to_string());
        let name = format!("Victim schema {n}");
        let saved = owner
            .post(
                &format!("/api/app/projects/{project_id}/schemas"),
                json!({ "entries": [{ "entityType": "event", "name": name, "schemaJson": { "description": "victim" } }] }),
            )
            .await;
        assert!(saved.status.is_success(), "{saved:?}");
        ids.0.insert("entity_name", name.replace(' ', "%20"));
    }
    if needs("event_name") {
        ids.0.insert("event_name", format!("Victim%20event%20{n}"));
    }
    if needs("property_name") {
        ids.0.insert("property_name", format!("victim_property_{n}"));
    }
    if needs("annotation_id") {
        let annotation = owner
            .post(
                &format!("/api/app/projects/{project_id}/annotations"),
                json!({ "date": "2026-01-01 10:00:00", "description": format!("Victim note {n}") }),
            )
            .await;
        ids.0.insert("annotation_id", annotation.results()["id"].to_string());
    }
    if needs("request_id") {
        let email = format!("victim-requester-{n}@beta.example");
        let (requester, _) = owner.invite_and_accept(org, &email, "member", json!([])).await;
        let reply = requester.post(&format!("/api/app/projects/{project_id}/access-requests"), json!({})).await;
        ids.0.insert("request_id", reply.results()["id"].to_string());
    }
    ids
}

/// A member of the victim's project whose custom role may mark classified data.
async fn steward(victim: &Tenant, ids: &Ids, n: u32) -> Api {
    let project_id = ids.0.get("project_id").cloned().unwrap_or_else(|| victim.projects[0].to_string());
    let role = victim
        .owner
        .post(
            &format!("/api/app/projects/{project_id}/custom-roles"),
            json!({ "name": format!("Steward {n}"), "permissions": ["view_reports", "mark_classified_data"] }),
        )
        .await;
    assert!(role.status.is_success(), "{role:?}");
    let role = format!("custom:{}", role.results()["id"].as_str().unwrap());
    let project_id: i64 = project_id.parse().unwrap();
    let email = format!("steward-{n}@beta.example");
    let projects = json!([{ "id": project_id, "role": role }]);
    victim.owner.invite_and_accept(victim.org_id, &email, "member", projects).await.0
}

fn fill(path: &str, ids: &Ids) -> String {
    let mut filled = path.to_string();
    for (name, value) in &ids.0 {
        filled = filled.replace(&format!("{{{name}}}"), value);
    }
    filled
}

/// A body the rightful Owner's request succeeds with.
/// The victim's OpenID provider, when the Node peers are installed (always under CI).
struct Peers {
    op: Option<tally_testkit::oidc::OpenIdProvider>,
}

fn body(
    method: &str,
    path: &str,
    victim: &Tenant,
    transfer_target: i64,
    n: u32,
    peers: &Peers,
    ids: &Ids,
) -> Option<Value> {
    let other_project = victim.projects[1];
    let id = |name: &str| ids.0.get(name).and_then(|id| id.parse::<i64>().ok()).unwrap_or(0);
    let value = match (method, path.rsplit('/').next().unwrap_or("")) {
        ("GET" | "DELETE", _) => return None,
        ("POST", "transfer") if path.contains("/boards/") => json!({ "owner_id": victim.owner_id }),
        ("POST", "boards") => json!({ "title": format!("Made board {n}") }),
        ("PUT", "board-settings") => json!({ "default_access": "viewer" }),
        ("PUT", "public-boards") => json!({ "enabled": true }),
        ("POST", "public-links") => json!({ "passcode": true }),
        ("PATCH", "{board_id}") => json!({ "title": format!("Renamed board {n}") }),
        ("PUT", "sharing") => json!({ "shares": [], "project_access": "viewer" }),
        ("PUT", "layout") => json!({ "rows": [[id("card_id")]] }),
        ("POST", "cards") => json!({ "text": format!("Made card {n}") }),
        ("PATCH", "{card_id}") => json!({ "text": format!("Changed card {n}") }),
        ("POST", "bookmarks") => json!({ "board_id": id("board_id"), "name": format!("Made report {n}"),
            "report": { "type": "insights", "range": { "from_date": "2026-01-01", "to_date": "2026-01-02" },
                "metrics": [{ "event": "Page View" }] } }),
        ("PATCH", "{bookmark_id}") => json!({ "name": format!("Renamed report {n}") }),
        ("POST", "duplicate" | "move") => json!({ "board_id": id("board_id") }),
        ("POST", "annotations") => json!({ "date": "2026-01-02 10:00:00", "description": format!("Made note {n}") }),
        ("POST", "tags") => json!({ "name": format!("Made tag {n}") }),
        ("POST", "cohorts") | ("PATCH", "{cohort_id}") => json!({ "name": format!("Made cohort {n}"),
            "definition": { "kind": "users", "distinct_ids": ["u1"] } }),
        ("POST", "preview") => json!({ "definition": { "kind": "users", "distinct_ids": ["u1"] } }),
        ("PATCH", "{event_name}" | "{property_name}") => json!({ "description": format!("Described {n}") }),
        ("PUT", "dropped") => json!({ "dropped": true }),
        ("PUT", "classified") => json!({ "classified": true }),
        ("POST", "users") if path.ends_with("/query/users") => json!({
            "report": { "type": "funnels", "range": { "from_date": "2026-01-01", "to_date": "2026-01-02" },
                "window_seconds": 86400, "steps": [{ "event": "Sign Up" }, { "event": "Purchase" }] },
            "selection": { "kind": "funnel_step", "step": 0 } }),
        ("PUT", "merged") => json!({ "into": format!("Merged {n}") }),
        ("POST", "import") => Value::String("kind,name,display_name\nevent,Imported,Shown\n".to_string()),
        ("POST", "schemas") => {
            json!({ "entries": [{ "entityType": "event", "name": format!("Made schema {n}"), "schemaJson": {} }] })
        }
        ("POST", "{entity_name}") => json!({ "description": format!("Schema {n}") }),
        ("POST", "alerts") => json!({ "bookmark_id": id("bookmark_id"), "condition": { "kind": "below", "value": 5 },
            "emails": ["owner@beta.example"] }),
        ("PATCH", "{alert_id}") => json!({ "name": format!("Renamed alert {n}") }),
        ("POST", "test") => json!({}),
        ("POST", "data-deletions" | "data-retrievals") => json!({ "distinct_ids": [format!("made-{n}")] }),
        ("POST", "data-views") => json!({ "name": format!("Made view {n}"), "filters": { "events": ["Sign Up"] } }),
        ("PATCH", "{view_id}") => json!({ "name": format!("Renamed view {n}") }),
        ("PUT", "members") if path.contains("/data-views/") => json!({ "members": [] }),
        ("PATCH", "{annotation_id}") => json!({ "description": format!("Changed note {n}") }),
        ("PUT", "{user_id}") if path.contains("/organizations/") => json!({ "role": "billing_admin" }),
        ("PUT", "billing") => json!({ "plan": "growth", "monthly_event_quota": 10, "seats": 20 }),
        ("POST", "projects") => json!({ "name": format!("Made {n}") }),
        ("POST", "teams") => json!({ "name": format!("Made team {n}") }),
        ("PATCH", "{team_id}") => json!({ "name": format!("Renamed team {n}") }),
        ("POST", "members") => json!({ "user_id": victim.owner_id }),
        ("PUT", "{project_id}") => json!({ "role": "analyst" }),
        ("POST", "invitations") => json!({ "email": format!("made-{n}@beta.example") }),
        ("POST", "resend" | "link" | "reset" | "rotate" | "deny") => json!({}),
        ("POST", "service-accounts") if path.contains("/organizations/") => {
            json!({ "username": format!("made-bot-{n}") })
        }
        ("POST", "service-accounts") => json!({ "username": format!("made-project-bot-{n}"), "role": "consumer" }),
        ("POST", "add-to-project") => json!({ "service_account_ids": [], "projects": [] }),
        ("POST", "remove-from-project") => json!({ "projects": [] }),
        ("PATCH", "{project_id}") => json!({ "timezone": "Europe/Berlin" }),
        ("POST", "transfer") => json!({ "organization_id": transfer_target }),
        ("PUT", "{user_id}" | "{service_account_id}" | "default-role") => json!({ "role": "consumer" }),
        ("POST", "custom-roles") => json!({ "name": format!("Made role {n}") }),
        ("PUT", "{role_id}") => json!({ "name": format!("Changed role {n}"), "permissions": ["view_reports"] }),
        ("POST", "copy") => json!({ "project_id": other_project }),
        ("POST", "access-requests") => json!({}),
        ("POST", "approve") => json!({ "role": "consumer" }),
        ("POST", "domains") => {
            json!({ "domain": format!("made-{n}.beta.example"), "password": tally_testkit::api::PASSWORD })
        }
        ("POST", "verify") => json!({}),
        ("POST", "scim-token") => json!({ "password": tally_testkit::api::PASSWORD }),
        ("PUT", "saml") => json!({
            "idp_entity_id": "https://idp.beta.example",
            "sso_url": "https://idp.beta.example/sso",
            "certificates": [tally_testkit::tls::self_signed().cert_pem],
            "password": tally_testkit::api::PASSWORD,
        }),
        ("PUT", "oidc") => match &peers.op {
            Some(op) => {
                json!({ "issuer": op.issuer, "client_id": op.client_id, "client_secret": op.client_secret, "password": tally_testkit::api::PASSWORD })
            }
            None => {
                json!({ "issuer": "http://127.0.0.1:9", "client_id": "c", "client_secret": "s", "password": tally_testkit::api::PASSWORD })
            }
        },
        ("PUT", "security") => json!({ "require_two_factor": false, "password": tally_testkit::api::PASSWORD }),
        ("POST", "query") => {
            json!({ "type": "insights", "range": { "from_date": "2026-01-01", "to_date": "2026-01-02" },
            "metrics": [{ "event": "Page View" }] })
        }
        ("POST", "csv") => Value::String(format!("email,organization_role\ncsv-{n}@beta.example,member\n")),
        (method, _) => panic!("no control body for {method} {path}"),
    };
    Some(value)
}

async fn send(api: &Api, method: &str, path: &str, body: Option<Value>) -> Reply {
    if let Some(Value::String(csv)) = &body {
        return api.post_text(path, "text/csv", csv).await;
    }
    let method: Method = method.parse().unwrap();
    api.call(method, path, body).await
}

/// Columns that background work changes (a service account's last use; the alert
/// scheduler's lease, next check and verdict), left out of snapshots.
const BACKGROUND_COLUMNS: [&str; 4] = ["last_used_at", "lease_until", "next_check_at", "invalid_reason"];

/// What a table's snapshot reads: an alert's scheduled checks are the scheduler's, its
/// tests a request's.
fn source_of(table: &str) -> String {
    match table {
        "alert_checks" => "(SELECT * FROM alert_checks WHERE test <> 0)".to_string(),
        other => other.to_string(),
    }
}

/// Every row of every table except those a read may touch (sessions; a service account's
/// last use; the background work of alerts), as text.
async fn snapshot(instance: &Instance) -> Vec<String> {
    let tables = [
        "users",
        "organizations",
        "org_members",
        "projects",
        "teams",
        "team_members",
        "service_accounts",
        "custom_roles",
        "project_grants",
        "access_requests",
        "invitations",
        "project_usage",
        "audit_log",
        "setup_tokens",
        "boards",
        "board_shares",
        "bookmarks",
        "board_cards",
        "annotations",
        "annotation_tags",
        "annotation_tag_links",
        "public_links",
        "cohorts",
        "lexicon_entries",
        "lexicon_schemas",
        "data_views",
        "data_view_members",
        "privacy_requests",
        "alerts",
        "alert_checks",
    ];
    let mut rows = Vec::new();
    match instance.metadata.backend {
        TestBackend::Postgres => {
            let mut db = sqlx::PgConnection::connect(&instance.metadata.url).await.unwrap();
            for table in tables {
                let source = source_of(table);
                let query = format!(
                    "SELECT (to_jsonb(t) - 'last_used_at' - 'lease_until' - 'next_check_at' - 'invalid_reason')::text \
                     AS row FROM {source} t ORDER BY 1"
                );
                for row in sqlx::query(sqlx::AssertSqlSafe(query)).fetch_all(&mut db).await.unwrap() {
                    rows.push(format!("{table}: {}", row.get::<String, _>("row")));
                }
            }
        }
        TestBackend::Sqlite => {
            let path = instance.data_dir.join("tally.db");
            let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
            for table in tables {
                let columns: Vec<String> =
                    sqlx::query(sqlx::AssertSqlSafe(format!("SELECT name FROM pragma_table_info('{table}')")))
                        .fetch_all(&mut db)
                        .await
                        .unwrap()
                        .iter()
                        .map(|row| row.get::<String, _>("name"))
                        .filter(|name| !BACKGROUND_COLUMNS.contains(&name.as_str()))
                        .collect();
                let expression = columns.iter().map(|c| format!("quote({c})")).collect::<Vec<_>>().join(" || ',' || ");
                let source = source_of(table);
                let query = format!("SELECT {expression} AS row FROM {source} ORDER BY 1");
                for row in sqlx::query(sqlx::AssertSqlSafe(query)).fetch_all(&mut db).await.unwrap() {
                    rows.push(format!("{table}: {}", row.get::<String, _>("row")));
                }
            }
        }
    }
    rows
}

#[tokio::test]
async fn other_tenants_ids_answer_404_and_change_nothing_on_every_route() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let server = super::world::server(&instance).await;
        let attacker = tenant(&instance, &server, "owner@acme.example", "Acme").await;
        let victim = tenant(&instance, &server, "owner@beta.example", "Beta").await;
        // A second organization of the same Owner, where projects can be transferred to.
        let second = instance
            .command(&["admin", "bootstrap", "--email", "owner@beta.example", "--org", "Beta Two", "--json"], None)
            .await;
        assert!(second.status.success(), "{}", second.stderr);
        let second: Value = serde_json::from_str(second.stdout.trim()).unwrap();
        let transfer_target = second["organization"]["id"].as_i64().unwrap();
        let op = match tally_testkit::oidc::node_peers() {
            Some(peers) => Some(
                tally_testkit::oidc::OpenIdProvider::start(&peers, &format!("{}/sso/oidc/callback", server.base_url()))
                    .await,
            ),
            None => None,
        };
        let peers = Peers { op };

        // Every kind of principal the attacking organization has.
        let (admin, _) =
            attacker.owner.invite_and_accept(attacker.org_id, "admin@acme.example", "admin", json!([])).await;
        let projects = json!([{ "id": attacker.projects[0], "role": "owner" }]);
        let (project_owner, _) =
            attacker.owner.invite_and_accept(attacker.org_id, "po@acme.example", "member", projects).await;
        let account = attacker
            .owner
            .post(
                &format!("/api/app/organizations/{}/service-accounts", attacker.org_id),
                json!({ "username": "acme-bot", "role": "admin" }),
            )
            .await;
        let robot = Api::service_account(server.base_url(), "acme-bot", account.results()["token"].as_str().unwrap());
        let principals = [
            ("owner", &attacker.owner),
            ("admin", &admin),
            ("project owner", &project_owner),
            ("service account", &robot),
        ];

        let document = Api::anonymous(server.base_url()).get("/api/openapi.json").await;
        let paths = document.body["paths"].as_object().unwrap().clone();
        let mut routes: Vec<(String, String)> = Vec::new();
        for (path, operations) in &paths {
            for (method, operation) in operations.as_object().unwrap() {
                let requirement = operation["x-tally-requirement"].as_str().unwrap();
                if requirement.starts_with("org:")
                    || requirement.starts_with("project:")
                    || requirement == "project_org_member"
                {
                    routes.push((method.to_uppercase(), path.clone()));
                }
            }
        }
        // Deleting the organization would end the walk: it goes last.
        routes.sort_by_key(|(method, path)| {
            (method == "DELETE" && path == "/api/app/organizations/{org_id}", path.clone())
        });
        assert!(routes.len() >= 50, "the inventory lists {} tenant routes", routes.len());

        let mut n = 0;
        for (method, path) in &routes {
            let ids = fixtures(path, &victim, &mut n).await;
            let mut url = fill(path, &ids);
            if path.ends_with("/users/activity") {
                // The feed names its user and days in the query string.
                url.push_str("?distinct_id=someone&from_date=2026-01-01&to_date=2026-01-02");
            }
            let body = body(method, path, &victim, transfer_target, n, &peers, &ids);
            let before = snapshot(&instance).await;
            for (who, api) in &principals {
                let reply = send(api, method, &url, body.clone()).await;
                assert_eq!(
                    reply.status,
                    StatusCode::NOT_FOUND,
                    "{backend:?}: {who} {method} {url} must be 404: {reply:?}"
                );
                assert_eq!(reply.code(), "not_found", "{who} {method} {url}");
            }
            let after = snapshot(&instance).await;
            assert_eq!(before, after, "{backend:?}: {method} {url} changed the database for an outsider");

            // The control: the rightful principal gets through (asking for access is for a
            // member who has none yet; everything else is the Owner's).
            let reply = if path.ends_with("/access-requests") && method == "POST" {
                let email = format!("control-requester-{n}@beta.example");
                let (requester, _) = victim.owner.invite_and_accept(victim.org_id, &email, "member", json!([])).await;
                send(&requester, method, &url, body.clone()).await
            } else if path.ends_with("/classified") {
                // Marking classified data is for custom roles only: a data steward's.
                let steward = steward(&victim, &ids, n).await;
                send(&steward, method, &url, body.clone()).await
            } else {
                send(&victim.owner, method, &url, body.clone()).await
            };
            if path.ends_with("/sso/oidc") && peers.op.is_none() {
                // Without an OpenID provider to point at, the control gets as far as discovery.
                assert_eq!(reply.code(), "sso_provider_unavailable", "{reply:?}");
                continue;
            }
            if method == "DELETE" && path.ends_with("/data-deletions/{tracking_id}") && reply.code() == "conflict" {
                // The runner may have started the deletion already: it is found, and only
                // too late to cancel.
                continue;
            }
            assert!(reply.status.is_success(), "{backend:?}: control {method} {url} failed: {reply:?}");
        }
    }
}
