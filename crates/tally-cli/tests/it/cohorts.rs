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
    crate::ingest::update_profiles(server.base_url(), &profiles).await;

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

/// The users behind a report's number, in full (not the answer's sample of a hundred):
/// a funnel step and those dropping off after it, a retention cell, an Insights point in a
/// segment; saved as a cohort of exactly them.
#[tokio::test]
async fn the_users_behind_a_reports_number_are_listed_in_full_and_saved_as_a_cohort() {
    let instance = Instance::new(tally_testkit::TestBackend::Sqlite).await;
    let server = server(&instance).await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let base = format!("/api/app/projects/{}", project.id);
    let owner = &acme.owner;
    let today = tally_types::Clock::now(&tally_types::SystemClock).to_zoned(jiff::tz::TimeZone::UTC).date();
    // Signed up two days ago, came back (25 hours later: retention's bucket 1) yesterday.
    let yesterday = today.checked_sub(jiff::Span::new().days(2)).unwrap();
    let later = today.yesterday().unwrap();
    let at = |date: jiff::civil::Date, hour: i8| {
        date.at(hour, 0, 0, 0).to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp().as_second()
    };
    // 150 users sign up yesterday; the even ones buy (plan pro below 50, free above); those
    // divisible by 3 come back today.
    let mut rows = Vec::new();
    for n in 0..150 {
        let user = format!("user-{n:03}");
        rows.push(json!({ "event": "Sign Up", "properties": { "time": at(yesterday, 1), "distinct_id": user, "$insert_id": format!("s{n}") } }));
        if n % 2 == 0 {
            let plan = if n < 50 { "pro" } else { "free" };
            rows.push(json!({ "event": "Purchase", "properties": { "time": at(yesterday, 2), "distinct_id": user,
                "$insert_id": format!("p{n}"), "plan": plan } }));
        }
        if n % 3 == 0 {
            rows.push(json!({ "event": "Page View", "properties": { "time": at(later, 2), "distinct_id": user, "$insert_id": format!("v{n}") } }));
        }
    }
    for chunk in rows.chunks(1000) {
        let reply = tally_testkit::http_client(None)
            .post(format!("{}/import?strict=1", server.base_url()))
            .basic_auth(&project.secret, Some(""))
            .json(&chunk)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::OK);
    }
    let range = json!({ "from_date": yesterday.to_string(), "to_date": today.to_string() });
    let funnel = json!({ "type": "funnels", "range": range, "window_seconds": 86_400,
        "steps": [{ "event": "Sign Up" }, { "event": "Purchase" }] });
    let users = |report: &Value, selection: Value| {
        let body = json!({ "report": report, "selection": selection });
        let path = format!("{base}/query/users");
        async move {
            let reply = owner.post(&path, body).await;
            assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
            reply.results()["distinct_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|id| id.as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    let expected = |keep: &dyn Fn(usize) -> bool| -> Vec<String> {
        (0..150).filter(|n| keep(*n)).map(|n| format!("user-{n:03}")).collect()
    };
    assert_eq!(
        users(&funnel, json!({ "kind": "funnel_step", "step": 0 })).await.len(),
        150,
        "all of them, not a sample"
    );
    assert_eq!(users(&funnel, json!({ "kind": "funnel_step", "step": 1 })).await, expected(&|n| n % 2 == 0));
    let dropped = users(&funnel, json!({ "kind": "funnel_step", "step": 0, "dropped": true })).await;
    assert_eq!(dropped, expected(&|n| n % 2 == 1));
    let retention = json!({ "type": "retention", "range": range, "unit": "day", "buckets": 1,
        "born": { "event": "Sign Up" }, "return": { "event": "Page View" } });
    assert_eq!(
        users(&retention, json!({ "kind": "retention_cell", "cohort": 0, "bucket": 1 })).await,
        expected(&|n| n % 3 == 0)
    );
    let insights = json!({ "type": "insights", "range": range, "unit": "day",
        "metrics": [{ "event": "Purchase", "measure": { "kind": "unique" } }], "breakdown": { "property": "plan" } });
    let pro = users(&insights, json!({ "kind": "insights_point", "metric": 0, "bucket": 0, "segment": "pro" })).await;
    assert_eq!(pro, expected(&|n| n % 2 == 0 && n < 50));
    assert!(
        users(&insights, json!({ "kind": "insights_point", "metric": 0, "bucket": 1 })).await.is_empty(),
        "no purchase today"
    );
    let mismatch = owner
        .post(
            &format!("{base}/query/users"),
            json!({ "report": insights, "selection": { "kind": "funnel_step", "step": 0 } }),
        )
        .await;
    assert_eq!(mismatch.status, StatusCode::BAD_REQUEST, "{mismatch:?}");

    // The dropped-off users, saved as a cohort of exactly them.
    let cohort = owner
        .post(
            &format!("{base}/cohorts"),
            json!({ "name": "Did not buy", "definition": { "kind": "users", "distinct_ids": dropped } }),
        )
        .await;
    let cohort_id = cohort.results()["id"].as_i64().unwrap();
    let listed = owner.get(&format!("{base}/cohorts/{cohort_id}/users?page_size=1000")).await;
    assert_eq!(listed.results()["count"], 75, "{listed:?}");
}
