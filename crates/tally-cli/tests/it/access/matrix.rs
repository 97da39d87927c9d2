//! Effective permissions for every organization role combined with every mix of project
//! grant sources, over HTTP, against the reference table written from the spec.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::json;
use tally_testkit::api::Api;
use tally_testkit::backends;

use super::reference::{ORG_ACTIONS, PROJECT_ACTIONS, implied_project_role, org_allows, project_role_allows};
use super::world::{names, tenant};
use crate::support::Instance;

const ORG_ROLES: [&str; 4] = ["owner", "admin", "billing_admin", "member"];
const PROJECT_ROLES: [&str; 4] = ["owner", "admin", "analyst", "consumer"];

/// Project grants a principal gets on the "grants" project, besides its organization role.
#[derive(Debug, Clone)]
struct Mix {
    label: String,
    individual: Option<&'static str>,
    teams: Vec<&'static str>,
}

fn mixes() -> Vec<Mix> {
    let mut mixes = vec![Mix { label: "none".into(), individual: None, teams: vec![] }];
    for role in PROJECT_ROLES {
        mixes.push(Mix { label: format!("individual-{role}"), individual: Some(role), teams: vec![] });
        mixes.push(Mix { label: format!("team-{role}"), individual: None, teams: vec![role] });
    }
    mixes.push(Mix {
        label: "individual-consumer+team-analyst".into(),
        individual: Some("consumer"),
        teams: vec!["analyst"],
    });
    mixes.push(Mix { label: "team-consumer+team-admin".into(), individual: None, teams: vec!["consumer", "admin"] });
    mixes
}

/// The reference: the union over the roles a principal holds.
fn expected(roles: &[&str]) -> BTreeSet<String> {
    PROJECT_ACTIONS
        .iter()
        .filter(|action| roles.iter().any(|role| project_role_allows(role, action)))
        .map(|action| action.to_string())
        .collect()
}

async fn check_project(api: &Api, who: &str, project_id: i64, roles: &[&str]) {
    let expected = expected(roles);
    let reply = api.get(&format!("/api/app/projects/{project_id}/permissions")).await;
    if expected.is_empty() {
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{who} on {project_id}: {reply:?}");
        assert_eq!(reply.code(), "no_project_access", "{who}");
        return;
    }
    assert_eq!(reply.status, StatusCode::OK, "{who} on {project_id}: {reply:?}");
    let actual = names(&reply.results()["permissions"]);
    let unknown: Vec<_> = actual.iter().filter(|name| !PROJECT_ACTIONS.contains(&name.as_str())).collect();
    assert!(unknown.is_empty(), "{who}: permissions the reference does not know: {unknown:?}");
    assert_eq!(actual, expected, "{who} on project {project_id} holding {roles:?}");
}

#[tokio::test]
async fn effective_permissions_match_the_reference_for_every_role_and_source_mix() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let server = super::world::server(&instance).await;
        let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
        let owner = &acme.owner;
        let org = acme.org_id;
        let grants_project = acme.projects[0];

        // One project per default role given to all organization members.
        let mut all_users_projects = Vec::new();
        for role in PROJECT_ROLES {
            let reply = owner
                .post(&format!("/api/app/organizations/{org}/projects"), json!({ "name": format!("All {role}") }))
                .await;
            assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
            let project_id = reply.results()["id"].as_i64().unwrap();
            let set = owner.put(&format!("/api/app/projects/{project_id}/default-role"), json!({ "role": role })).await;
            assert_eq!(set.status, StatusCode::OK, "{set:?}");
            all_users_projects.push((project_id, role));
        }

        // One team per role on the grants project.
        let mut teams = std::collections::HashMap::new();
        for role in PROJECT_ROLES {
            let reply = owner
                .post(&format!("/api/app/organizations/{org}/teams"), json!({ "name": format!("Team {role}") }))
                .await;
            let team_id = reply.results()["id"].as_i64().unwrap();
            let set = owner
                .put(
                    &format!("/api/app/organizations/{org}/teams/{team_id}/projects/{grants_project}"),
                    json!({ "role": role }),
                )
                .await;
            assert_eq!(set.status, StatusCode::OK, "{set:?}");
            teams.insert(role, team_id);
        }

        let mut n_checked = 0;
        for org_role in ORG_ROLES {
            for mix in mixes() {
                let email = format!("{org_role}.{}@acme.example", mix.label.replace('+', "."));
                let projects = match mix.individual {
                    Some(role) => json!([{ "id": grants_project, "role": role }]),
                    None => json!([]),
                };
                let (api, user_id) = owner.invite_and_accept(org, &email, org_role, projects).await;
                for role in &mix.teams {
                    let team_id = teams[role];
                    let added = owner
                        .post(
                            &format!("/api/app/organizations/{org}/teams/{team_id}/members"),
                            json!({ "user_id": user_id }),
                        )
                        .await;
                    assert_eq!(added.status, StatusCode::OK, "{added:?}");
                }

                // Organization permissions.
                let reply = api.get(&format!("/api/app/organizations/{org}")).await;
                let actual = names(&reply.results()["your_permissions"]);
                let expected: BTreeSet<String> =
                    ORG_ACTIONS.iter().filter(|action| org_allows(org_role, action)).map(|a| a.to_string()).collect();
                assert_eq!(actual, expected, "{email}: organization permissions");

                // The grants project: org role ∪ individual ∪ teams.
                let mut held: Vec<&str> = implied_project_role(org_role).into_iter().collect();
                held.extend(mix.individual);
                held.extend(mix.teams.iter().copied());
                check_project(&api, &email, grants_project, &held).await;

                // The all-users projects: org role ∪ the default role.
                for (project_id, role) in &all_users_projects {
                    let mut held: Vec<&str> = implied_project_role(org_role).into_iter().collect();
                    held.push(role);
                    check_project(&api, &email, *project_id, &held).await;
                }
                n_checked += 1;
            }
        }
        assert_eq!(n_checked, ORG_ROLES.len() * mixes().len());

        // The members listing shows every grant with its source.
        let members = owner.get(&format!("/api/app/projects/{grants_project}/members")).await;
        let listed = members.results().as_array().unwrap();
        let mixed =
            listed.iter().find(|m| m["label"] == "member.individual-consumer.team-analyst@acme.example").unwrap();
        let sources: BTreeSet<(String, String)> = mixed["grants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g["source"].as_str().unwrap().to_string(), g["role"].as_str().unwrap().to_string()))
            .collect();
        assert_eq!(
            sources,
            BTreeSet::from([("individual".into(), "consumer".into()), ("team:Team analyst".into(), "analyst".into())])
        );
        let admin = listed.iter().find(|m| m["label"] == "admin.none@acme.example").unwrap();
        assert_eq!(admin["grants"], json!([{ "source": "organization_role", "role": "admin" }]));
    }
}
