//! Cohorts over HTTP: behaviors (at least, at most, "did not do"), profile conditions,
//! other cohorts, lists of ids, all/any; computed now across merged ids; private unless
//! shared; used as a report filter and breakdown; their users, CSV export, a preview, the
//! Query API's `cohorts/list` and engage's `filter_by_cohort`. Answers worked out by hand.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tally_testkit::api::Api;

use crate::access::world::{server, tenant};
use crate::ingest::production;
use crate::support::Instance;

fn members(answer: &Value) -> BTreeSet<String> {
    answer["users"].as_array().unwrap().iter().map(|user| user["distinct_id"].as_str().unwrap().to_string()).collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|id| id.to_string()).collect()
}

#[tokio::test]
async fn cohorts_are_computed_now_and_filter_every_report() {
    let instance = Instance::new(tally_testkit::TestBackend::Sqlite).await;
    let server = server(&instance).await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let base = format!("/api/app/projects/{}", project.id);
    let invite = |email: &'static str, role: &'static str| {
        let owner = &acme.owner;
        let id = project.id;
        async move { owner.invite_and_accept(acme.org_id, email, "member", json!([{ "id": id, "role": role }])).await.0 }
    };
    let analyst: Api = invite("analyst@acme.example", "analyst").await;
    let consumer: Api = invite("consumer@acme.example", "consumer").await;

    // u1 bought three times (twice as a device before identifying), u2 once, u3 only
    // looked; u4 has a profile and no events.
    let now = tally_types::Clock::now(&tally_types::SystemClock).as_second() - 3600;
    let mut n = 0;
    let mut event = |name: &str, user: &str, extra: Value| {
        n += 1;
        let mut properties = json!({ "time": now - n * 60, "distinct_id": user, "$insert_id": format!("c{n}") });
        for (key, value) in extra.as_object().unwrap() {
            properties[key] = value.clone();
        }
        json!({ "event": name, "properties": properties })
    };
    let rows = vec![
        event("Purchase", "$device:x1", json!({ "$device_id": "x1" })),
        event("Purchase", "$device:x1", json!({ "$device_id": "x1" })),
        event("Log In", "u1", json!({ "$device_id": "x1", "$user_id": "u1" })),
        event("Purchase", "u1", json!({})),
        event("Page View", "u1", json!({})),
        event("Purchase", "u2", json!({})),
        event("Page View", "u2", json!({})),
        event("Page View", "u3", json!({})),
        event("Page View", "u3", json!({})),
    ];
    let reply = tally_testkit::http_client(None)
        .post(format!("{}/import?strict=1", server.base_url()))
        .basic_auth(&project.secret, Some(""))
        .json(&rows)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    let profiles = json!([
        { "$token": project.token, "$distinct_id": "u1", "$set": { "plan": "pro", "$email": "u1@example.com", "$name": "One" } },
        { "$token": project.token, "$distinct_id": "u2", "$set": { "plan": "free" } },
        { "$token": project.token, "$distinct_id": "u3", "$set": { "plan": "pro" } },
        { "$token": project.token, "$distinct_id": "u4", "$set": { "plan": "free" } },
    ]);
    let reply = tally_testkit::http_client(None)
        .post(format!("{}/engage", server.base_url()))
        .json(&profiles)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.text().await.unwrap(), "1");

    let behavior = |comparison: &str, count: u64| {
        json!({ "kind": "behavior", "event": "Purchase", "comparison": comparison, "count": count,
            "window": { "kind": "last_days", "days": 30 } })
    };
    let save = |api: &Api, name: &str, definition: Value, shared: bool| {
        let api = api.clone();
        let path = format!("{base}/cohorts");
        let body = json!({ "name": name, "definition": definition, "shared": shared });
        async move { api.post(&path, body).await }
    };
    let buyers = save(&analyst, "Repeat buyers", behavior("at_least", 2), false).await;
    assert_eq!(buyers.status, StatusCode::CREATED, "{buyers:?}");
    let buyers = buyers.results()["id"].as_i64().unwrap();
    let never = save(&analyst, "Never bought", behavior("at_most", 0), true).await.results()["id"].as_i64().unwrap();
    let pro = save(
        &analyst,
        "Pro",
        json!({ "kind": "profile", "filter": { "property": "plan", "operator": "equals", "value": ["pro"] } }),
        true,
    )
    .await
    .results()["id"]
        .as_i64()
        .unwrap();
    let pro_lookers = save(
        &analyst,
        "Pro, never bought",
        json!({ "kind": "all", "conditions": [{ "kind": "cohort", "id": pro }, { "kind": "cohort", "id": never }] }),
        true,
    )
    .await
    .results()["id"]
        .as_i64()
        .unwrap();
    let mixed = save(&analyst, "Buyers or u4", json!({ "kind": "any", "conditions": [{ "kind": "cohort", "id": buyers }, { "kind": "users", "distinct_ids": ["u4"] }] }), false)
        .await
        .results()["id"]
        .as_i64()
        .unwrap();
    let users = |api: &Api, id: i64| {
        let api = api.clone();
        let path = format!("{base}/cohorts/{id}/users");
        async move { api.get(&path).await }
    };
    assert_eq!(members(users(&analyst, buyers).await.results()), set(&["u1"]), "the device's purchases are u1's");
    assert_eq!(members(users(&analyst, never).await.results()), set(&["u3", "u4"]), "did not do: everyone else");
    assert_eq!(members(users(&analyst, pro).await.results()), set(&["u1", "u3"]));
    assert_eq!(members(users(&analyst, pro_lookers).await.results()), set(&["u3"]));
    assert_eq!(members(users(&analyst, mixed).await.results()), set(&["u1", "u4"]));
    let page = users(&analyst, pro).await;
    assert_eq!(page.results()["count"], 2);
    assert_eq!(page.results()["users"][0]["properties"]["plan"], "pro");
    let preview =
        analyst.post(&format!("{base}/cohorts/preview"), json!({ "definition": behavior("exactly", 1) })).await;
    assert_eq!(preview.results()["count"], 1, "u2 bought exactly once: {preview:?}");

    // A CSV of distinct ids, the device id of u1 among them: a list, canonical.
    let uploaded = analyst
        .post_text(&format!("{base}/cohorts/csv?name=Imported"), "text/csv", "distinct_id\n$device:x1\nu2\n\nu2\n")
        .await;
    assert_eq!(uploaded.status, StatusCode::CREATED, "{uploaded:?}");
    assert_eq!(uploaded.results()["name"], "Imported");
    let imported = uploaded.results()["id"].as_i64().unwrap();
    assert_eq!(members(users(&analyst, imported).await.results()), set(&["u1", "u2"]));
    let empty = analyst.post_text(&format!("{base}/cohorts/csv"), "text/csv", "distinct_id\n").await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST, "{empty:?}");

    // Private unless shared: the Consumer sees only the shared ones, and cannot share.
    let seen: BTreeSet<i64> = consumer
        .get(&format!("{base}/cohorts"))
        .await
        .results()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(seen, [never, pro, pro_lookers].into_iter().collect());
    assert_eq!(users(&consumer, buyers).await.status, StatusCode::NOT_FOUND);
    assert_eq!(save(&consumer, "Mine", behavior("at_least", 1), true).await.status, StatusCode::FORBIDDEN);
    assert_eq!(save(&consumer, "Mine", behavior("at_least", 1), false).await.status, StatusCode::CREATED);
    assert_eq!(
        consumer.delete(&format!("{base}/cohorts/{pro}")).await.status,
        StatusCode::FORBIDDEN,
        "only its creator or an admin changes a cohort"
    );

    // A filter and a breakdown in reports.
    let today = tally_types::Clock::now(&tally_types::SystemClock).to_zoned(jiff::tz::TimeZone::UTC).date();
    let range = json!({ "from_date": today.checked_sub(jiff::Span::new().days(2)).unwrap().to_string(), "to_date": today.to_string() });
    let report = |filters: Value, breakdown: Value| {
        json!({ "type": "insights", "range": range, "metrics": [{ "event": "Page View", "measure": { "kind": "total" } }],
            "filters": filters, "breakdown": breakdown })
    };
    let in_pro = analyst
        .post(
            &format!("{base}/query"),
            report(json!([{ "property": pro.to_string(), "source": "cohort", "operator": "is_true" }]), Value::Null),
        )
        .await;
    assert_eq!(in_pro.results()["series"][0]["total"], 3.0, "u1's one and u3's two page views: {in_pro:?}");
    let not_pro = analyst
        .post(
            &format!("{base}/query"),
            report(json!([{ "property": pro.to_string(), "source": "cohort", "operator": "is_false" }]), Value::Null),
        )
        .await;
    assert_eq!(not_pro.results()["series"][0]["total"], 1.0);
    let by_cohort = analyst
        .post(&format!("{base}/query"), report(json!([]), json!({ "property": pro.to_string(), "source": "cohort" })))
        .await;
    let segments: BTreeSet<(String, i64)> = by_cohort.results()["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|series| (series["segment"].as_str().unwrap().to_string(), series["total"].as_f64().unwrap() as i64))
        .collect();
    assert_eq!(segments, [("true".to_string(), 3), ("false".to_string(), 1)].into_iter().collect());
    // A cohort the caller may not see cannot be used.
    let hidden = consumer
        .post(
            &format!("{base}/query"),
            report(json!([{ "property": buyers.to_string(), "source": "cohort", "operator": "is_true" }]), Value::Null),
        )
        .await;
    assert_eq!(hidden.status, StatusCode::BAD_REQUEST, "{hidden:?}");

    // The CSV export is for those who may export cohorts.
    assert_eq!(consumer.get(&format!("{base}/cohorts/{pro}/export")).await.status, StatusCode::FORBIDDEN);
    let exported = analyst.request(reqwest::Method::GET, &format!("{base}/cohorts/{pro}/export")).send().await.unwrap();
    assert_eq!(exported.status(), StatusCode::OK);
    assert_eq!(exported.text().await.unwrap(), "distinct_id,$email,$name\nu1,u1@example.com,One\nu3,,\n");

    // Mixpanel's Query API: the shared cohorts with their counts, and engage filtered by one.
    let secret = project.secret.clone();
    let listed: Value = tally_testkit::http_client(None)
        .post(format!("{}/api/query/cohorts/list", server.base_url()))
        .basic_auth(&secret, Some(""))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let counts: BTreeSet<(i64, i64)> =
        listed.as_array().unwrap().iter().map(|c| (c["id"].as_i64().unwrap(), c["count"].as_i64().unwrap())).collect();
    assert_eq!(counts, [(never, 2), (pro, 2), (pro_lookers, 1)].into_iter().collect(), "{listed}");
    let engaged: Value = tally_testkit::http_client(None)
        .get(format!("{}/api/2.0/engage", server.base_url()))
        .query(&[("filter_by_cohort", format!("{{\"id\":{never}}}"))])
        .basic_auth(&secret, Some(""))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: BTreeSet<String> = engaged["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["$distinct_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, set(&["u3", "u4"]), "{engaged}");
}
