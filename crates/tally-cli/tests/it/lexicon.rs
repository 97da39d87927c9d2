//! The Lexicon over HTTP beyond single edits: merging events and properties in every query
//! (the export keeps raw names; the Owner's alone; no chains), owners, a CSV import (with
//! replace), and Mixpanel's Lexicon Schemas API driven by a service account.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tally_testkit::api::Api;

use crate::access::world::{server, tenant};
use crate::ingest::production;
use crate::support::Instance;

fn segments(answer: &Value) -> BTreeMap<String, f64> {
    answer["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|series| (series["segment"].as_str().unwrap_or("").to_string(), series["total"].as_f64().unwrap()))
        .collect()
}

#[tokio::test]
async fn merges_owners_csv_import_and_the_schemas_api() {
    let instance = Instance::new(tally_testkit::TestBackend::Sqlite).await;
    let server = server(&instance).await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let base = format!("/api/app/projects/{}", project.id);
    let owner = &acme.owner;
    let now = tally_types::Clock::now(&tally_types::SystemClock).as_second() - 600;
    let rows = json!([
        { "event": "Sign Up", "properties": { "time": now, "distinct_id": "u1", "$insert_id": "s1", "plan": "pro" } },
        { "event": "Sign Up", "properties": { "time": now, "distinct_id": "u2", "$insert_id": "s2", "plan": "pro" } },
        { "event": "signup", "properties": { "time": now, "distinct_id": "u3", "$insert_id": "s3", "plan_name": "free" } },
        { "event": "Purchase", "properties": { "time": now, "distinct_id": "u1", "$insert_id": "p1", "amount": 5 } },
    ]);
    let reply = tally_testkit::http_client(None)
        .post(format!("{}/import?strict=1", server.base_url()))
        .basic_auth(&project.secret, Some(""))
        .json(&rows)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    let (admin, _) = owner
        .invite_and_accept(acme.org_id, "admin@acme.example", "member", json!([{ "id": project.id, "role": "admin" }]))
        .await;
    let (analyst, _) = owner
        .invite_and_accept(
            acme.org_id,
            "analyst@acme.example",
            "member",
            json!([{ "id": project.id, "role": "analyst" }]),
        )
        .await;

    let today = tally_types::Clock::now(&tally_types::SystemClock).to_zoned(jiff::tz::TimeZone::UTC).date();
    let range = json!({ "from_date": today.checked_sub(jiff::Span::new().days(1)).unwrap().to_string(), "to_date": today.to_string() });
    let signups = json!({ "type": "insights", "range": range,
        "metrics": [{ "event": "Sign Up", "measure": { "kind": "total" } }], "breakdown": { "property": "plan" } });
    let before = owner.post(&format!("{base}/query"), signups.clone()).await;
    assert_eq!(segments(before.results()), BTreeMap::from([("pro".to_string(), 2.0)]), "{before:?}");

    // The Owner merges the stray event and property; only the Owner may.
    let merge = |api: &Api, path: String, into: Value| {
        let api = api.clone();
        async move { api.put(&path, json!({ "into": into })).await }
    };
    let refused = merge(&admin, format!("{base}/lexicon/events/signup/merged"), json!("Sign Up")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let merged = merge(owner, format!("{base}/lexicon/events/signup/merged"), json!("Sign Up")).await;
    assert_eq!(merged.results()["merged_into"], "Sign Up", "{merged:?}");
    let merged = merge(owner, format!("{base}/lexicon/properties/plan_name/merged"), json!("plan")).await;
    assert_eq!(merged.status, StatusCode::OK, "{merged:?}");
    let after = owner.post(&format!("{base}/query"), signups.clone()).await;
    assert_eq!(
        segments(after.results()),
        BTreeMap::from([("pro".to_string(), 2.0), ("free".to_string(), 1.0)]),
        "{after:?}"
    );
    let chain = merge(owner, format!("{base}/lexicon/events/Sign%20Up/merged"), json!("Purchase")).await;
    assert_eq!(chain.status, StatusCode::BAD_REQUEST, "others are merged into Sign Up: {chain:?}");
    let export = tally_testkit::http_client(None)
        .get(format!(
            "{}/api/2.0/export?from_date={}&to_date={today}",
            server.base_url(),
            range["from_date"].as_str().unwrap()
        ))
        .basic_auth(&project.secret, Some(""))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(export.contains("\"signup\"") && export.contains("plan_name"), "the raw data is unchanged: {export}");
    let lexicon = owner.get(&format!("{base}/lexicon")).await;
    let signup =
        lexicon.results()["events"].as_array().unwrap().iter().find(|e| e["name"] == "signup").unwrap().clone();
    assert_eq!(signup["merged_into"], "Sign Up");
    merge(owner, format!("{base}/lexicon/events/signup/merged"), Value::Null).await;
    let unmerged = owner.post(&format!("{base}/query"), signups).await;
    assert_eq!(
        unmerged.results()["series"].as_array().unwrap().iter().map(|s| s["total"].as_f64().unwrap()).sum::<f64>(),
        2.0
    );

    // Owners are members of the organization.
    let owned =
        admin.patch(&format!("{base}/lexicon/events/Purchase"), json!({ "owners": ["Admin@acme.example"] })).await;
    assert_eq!(owned.results()["owners"], json!(["admin@acme.example"]), "{owned:?}");
    let stranger =
        admin.patch(&format!("{base}/lexicon/events/Purchase"), json!({ "owners": ["x@elsewhere.example"] })).await;
    assert_eq!(stranger.status, StatusCode::BAD_REQUEST);

    // A CSV import overwrites matching entries; with replace, the others lose their edits.
    let csv = "kind,name,display_name,description,tags,hidden,owners\n\
               event,Purchase,Bought,A completed order,money;core,false,owner@acme.example\n\
               property,amount,Amount,,,false,\n";
    let imported = admin.post_text(&format!("{base}/lexicon/import"), "text/csv", csv).await;
    assert_eq!(imported.results()["imported"], 2, "{imported:?}");
    let lexicon = owner.get(&format!("{base}/lexicon")).await;
    let purchase =
        lexicon.results()["events"].as_array().unwrap().iter().find(|e| e["name"] == "Purchase").unwrap().clone();
    assert_eq!(purchase["display_name"], "Bought");
    assert_eq!(purchase["tags"], json!(["core", "money"]));
    assert_eq!(purchase["owners"], json!(["owner@acme.example"]));
    let replaced = admin
        .post_text(
            &format!("{base}/lexicon/import?replace=true"),
            "text/csv",
            "kind,name,display_name\nevent,Sign Up,Joined\n",
        )
        .await;
    assert_eq!(replaced.results()["imported"], 1);
    let lexicon = owner.get(&format!("{base}/lexicon")).await;
    let find = |name: &str| {
        lexicon.results()["events"].as_array().unwrap().iter().find(|e| e["name"] == name).unwrap().clone()
    };
    assert_eq!(find("Purchase")["display_name"], "", "replace cleared it");
    assert_eq!(find("Sign Up")["display_name"], "Joined");
    let bad = admin.post_text(&format!("{base}/lexicon/import"), "text/csv", "name\nPurchase\n").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{bad:?}");
    assert!(bad.body["error"].as_str().unwrap().contains("kind"));
    let refused = analyst.post_text(&format!("{base}/lexicon/import"), "text/csv", csv).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // The Schemas API, as a service account with the Admin role.
    let account = owner
        .post(
            &format!("/api/app/organizations/{}/service-accounts", acme.org_id),
            json!({ "username": "schemabot", "role": "member", "projects": [{ "id": project.id, "role": "admin" }] }),
        )
        .await;
    let robot = Api::service_account(server.base_url(), "schemabot", account.results()["token"].as_str().unwrap());
    let schema = json!({ "description": "Paid for", "properties": { "amount": { "type": "number",
        "description": "In dollars", "metadata": { "com.mixpanel": { "displayName": "Amount paid" } } } },
        "metadata": { "com.mixpanel": { "displayName": "Order", "tags": ["money"], "hidden": false,
            "contacts": ["owner@acme.example"] } } });
    let saved = robot
        .post(
            &format!("{base}/schemas"),
            json!({ "entries": [{ "entityType": "event", "name": "Purchase", "schemaJson": schema }] }),
        )
        .await;
    assert_eq!(saved.results(), &json!({ "added": 1, "deleted": 0 }), "{saved:?}");
    let again = robot
        .post(
            &format!("{base}/schemas"),
            json!({ "entries": [{ "entityType": "event", "name": "Purchase", "schemaJson": schema }] }),
        )
        .await;
    assert_eq!(again.results()["added"], 0, "the same schema again replaces it");
    let all = robot.get(&format!("{base}/schemas")).await;
    assert_eq!(all.results(), &json!([{ "entityType": "event", "name": "Purchase", "schemaJson": schema }]));
    let one = robot.get(&format!("{base}/schemas/event/Purchase")).await;
    assert_eq!(one.results()["schemaJson"], schema);
    let lexicon = owner.get(&format!("{base}/lexicon")).await;
    let purchase =
        lexicon.results()["events"].as_array().unwrap().iter().find(|e| e["name"] == "Purchase").unwrap().clone();
    assert_eq!(purchase["display_name"], "Order", "{purchase}");
    assert_eq!(purchase["description"], "Paid for");
    let amount = purchase["properties"].as_array().unwrap().iter().find(|p| p["name"] == "amount").unwrap().clone();
    assert_eq!(amount["display_name"], "Amount paid");
    let mut dropping = schema.clone();
    dropping["metadata"]["com.mixpanel"]["dropped"] = json!(true);
    let refused = robot
        .post(
            &format!("{base}/schemas"),
            json!({ "entries": [{ "entityType": "event", "name": "Purchase", "schemaJson": dropping }] }),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "dropping is the Owner's: {refused:?}");
    let wrong = robot.get(&format!("{base}/schemas/group")).await;
    assert_eq!(wrong.status, StatusCode::NOT_FOUND);
    let deleted = robot.delete(&format!("{base}/schemas/event/Purchase")).await;
    assert_eq!(deleted.results()["deleted"], 1);
    assert_eq!(robot.get(&format!("{base}/schemas/event/Purchase")).await.status, StatusCode::NOT_FOUND);
}
