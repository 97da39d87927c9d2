//! Data views and classified data over HTTP: a user whose default view is a filtered one
//! walks every read route (reports, users, activity, live events, Lexicon, cohorts, the
//! Query API, engage, the export, a public link made in the view) and nothing outside the
//! view, nor any classified value, comes back; the Owner (no classified access either)
//! sees the rows outside the view, and only a holder of `access_classified_data` sees the
//! classified values. Markers make a leak show in any answer's text.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tally_testkit::api::Reply;

use crate::access::world::{server, tenant};
use crate::ingest::production;
use crate::support::Instance;

/// Text that only data outside the view, or a classified value, holds.
const OUTSIDE: [&str; 4] = ["OUTSIDER", "SecretEvent", "OUTSIDE-COUNTRY", "CLASSIFIED-VALUE"];

fn leaks(text: &str) -> Vec<&'static str> {
    OUTSIDE.iter().copied().filter(|marker| text.contains(marker)).collect()
}

#[track_caller]
fn clean(what: &str, status: StatusCode, text: &str) {
    assert!(status.is_success(), "{what}: {status} {text}");
    assert!(leaks(text).is_empty(), "{what} shows {:?} outside the view: {text}", leaks(text));
}

fn reply_text(reply: &Reply) -> String {
    reply.body.to_string()
}

#[tokio::test]
async fn a_data_view_and_classified_properties_hold_on_every_read_route() {
    let instance = Instance::new(tally_testkit::TestBackend::Sqlite).await;
    let server = server(&instance).await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let base = format!("/api/app/projects/{}", project.id);
    let owner = &acme.owner;

    // Inside the view: Purchases and Page Views from New Zealand by users on the pro plan.
    // Outside: a purchase from elsewhere, a user without a profile, a user on another plan,
    // an event the view leaves out.
    let now = tally_types::Clock::now(&tally_types::SystemClock).as_second() - 3600;
    let mut n = 0;
    let mut event = |name: &str, user: &str, country: &str| {
        n += 1;
        json!({ "event": name, "properties": { "time": now - n * 60, "distinct_id": user,
            "$insert_id": format!("v{n}"), "country": country, "email": format!("CLASSIFIED-VALUE-{user}"),
            "amount": 10 } })
    };
    let rows = vec![
        event("Purchase", "in-1", "NZ"),
        event("Page View", "in-1", "NZ"),
        event("Purchase", "in-1", "NZ"),
        event("Purchase", "in-2", "NZ"),
        event("Page View", "in-2", "NZ"),
        event("SecretEvent", "in-1", "NZ"),
        event("Purchase", "in-2", "OUTSIDE-COUNTRY"),
        event("Purchase", "OUTSIDER-abroad", "OUTSIDE-COUNTRY"),
        event("Purchase", "OUTSIDER-free", "NZ"),
        event("Page View", "OUTSIDER-free", "NZ"),
    ];
    let reply = tally_testkit::http_client(None)
        .post(format!("{}/import?strict=1", server.base_url()))
        .basic_auth(&project.secret, Some(""))
        .json(&rows)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    let profile = |user: &str, plan: &str| {
        json!({ "$token": project.token, "$distinct_id": user,
            "$set": { "plan": plan, "email": format!("CLASSIFIED-VALUE-{user}"), "$name": format!("Name {user}") } })
    };
    let profiles = json!([profile("in-1", "pro"), profile("in-2", "pro"), profile("OUTSIDER-free", "free"),]);
    crate::ingest::update_profiles(server.base_url(), &profiles).await;

    // The view, made the default: members without another view open it.
    let filters = json!({ "events": ["Purchase", "Page View"], "filters": [
        { "property": "country", "operator": "equals", "value": ["NZ"] },
        { "property": "plan", "source": "user", "operator": "equals", "value": ["pro"] } ] });
    let bad = owner
        .post(
            &format!("{base}/data-views"),
            json!({ "name": "Cohort view", "filters": { "filters": [{ "property": "1", "source": "cohort", "operator": "is_true" }] } }),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{bad:?}");
    let view = owner
        .post(&format!("{base}/data-views"), json!({ "name": "NZ pro", "filters": filters, "is_default": true }))
        .await;
    assert_eq!(view.status, StatusCode::CREATED, "{view:?}");
    let view_id = view.results()["id"].as_i64().unwrap();

    // `email` is classified, by someone whose custom role may mark it.
    let role = |name: &str, permissions: Value| {
        let path = format!("{base}/custom-roles");
        let body = json!({ "name": name, "permissions": permissions });
        async move { owner.post(&path, body).await.results()["id"].as_str().unwrap().to_string() }
    };
    let marker_role = role("Data steward", json!(["view_reports", "mark_classified_data"])).await;
    let reader_role = role("Classified reader", json!(["view_reports", "view_users", "access_classified_data"])).await;
    let invite = |email: &'static str, role: String| {
        let id = project.id;
        async move { owner.invite_and_accept(acme.org_id, email, "member", json!([{ "id": id, "role": role }])).await }
    };
    let (steward, _) = invite("steward@acme.example", format!("custom:{marker_role}")).await;
    let (reader, _) = invite("reader@acme.example", format!("custom:{reader_role}")).await;
    let (analyst, _) = invite("analyst@acme.example", "analyst".to_string()).await;
    assert_eq!(
        owner.put(&format!("{base}/lexicon/properties/email/classified"), json!({ "classified": true })).await.status,
        StatusCode::FORBIDDEN,
        "no default role marks classified data"
    );
    let marked =
        steward.put(&format!("{base}/lexicon/properties/email/classified"), json!({ "classified": true })).await;
    assert_eq!(marked.status, StatusCode::OK, "{marked:?}");
    assert_eq!(marked.results()["classified"], true);

    // The analyst opens the view, and nothing else.
    let listed = analyst.get(&format!("{base}/data-views")).await;
    let listed_ids: Vec<i64> = listed.results().as_array().unwrap().iter().map(|v| v["id"].as_i64().unwrap()).collect();
    assert_eq!(listed_ids, vec![view_id], "{listed:?}");
    let all = analyst.get(&format!("{base}/users?workspace_id=0")).await;
    assert_eq!(all.status, StatusCode::NOT_FOUND, "All Project Data is not the analyst's: {all:?}");
    let owner_lists = owner.get(&format!("{base}/data-views")).await;
    assert_eq!(owner_lists.results().as_array().unwrap().len(), 2, "the Owner manages every view");

    // Every report, through the view.
    let today = tally_types::Clock::now(&tally_types::SystemClock).to_zoned(jiff::tz::TimeZone::UTC).date();
    let range = json!({ "from_date": today.checked_sub(jiff::Span::new().days(2)).unwrap().to_string(), "to_date": today.to_string() });
    let reports = [
        json!({ "type": "insights", "range": range, "metrics": [{ "event": "Purchase", "measure": { "kind": "total" } }] }),
        json!({ "type": "insights", "range": range, "metrics": [{ "event": "$all_events", "measure": { "kind": "total" } }],
            "breakdown": { "property": "country" } }),
        json!({ "type": "insights", "range": range, "metrics": [{ "event": "Purchase", "measure": { "kind": "unique" } }],
            "breakdown": { "property": "email" } }),
        json!({ "type": "insights", "range": range, "metrics": [{ "event": "Purchase", "measure": { "kind": "total" } }],
            "breakdown": { "property": "email", "source": "user" } }),
        json!({ "type": "funnels", "range": range, "window_seconds": 86_400,
            "steps": [{ "event": "Page View" }, { "event": "Purchase" }] }),
        json!({ "type": "retention", "range": range, "unit": "day", "buckets": 2, "born": { "event": "Purchase" },
            "return": { "event": "$all_events" } }),
        json!({ "type": "flows", "range": range, "anchor": { "event": "Page View" }, "steps_before": 2, "steps_after": 3,
            "window_seconds": 86_400, "top_events": 50 }),
    ];
    let mut answers = Vec::new();
    for report in &reports {
        let reply = analyst.post(&format!("{base}/query"), report.clone()).await;
        clean(&format!("report {report}"), reply.status, &reply_text(&reply));
        answers.push(reply.results().clone());
    }
    assert_eq!(answers[0]["series"][0]["total"], 3.0, "in-1's two purchases and in-2's one from NZ: {}", answers[0]);
    let owner_total = owner.post(&format!("{base}/query"), reports[0].clone()).await;
    assert_eq!(owner_total.results()["series"][0]["total"], 6.0, "the Owner counts every purchase");
    assert!(reply_text(&owner_total).len() > 10);
    let owner_countries = owner.post(&format!("{base}/query"), reports[1].clone()).await;
    assert!(reply_text(&owner_countries).contains("OUTSIDE-COUNTRY"), "the markers exist outside the view");

    // Users, activity, live events, Lexicon, cohorts.
    let users = analyst.get(&format!("{base}/users")).await;
    clean("users", users.status, &reply_text(&users));
    let ids: Vec<&str> =
        users.results()["users"].as_array().unwrap().iter().map(|user| user["distinct_id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["in-1", "in-2"], "{users:?}");
    let owner_users = owner.get(&format!("{base}/users")).await;
    assert!(reply_text(&owner_users).contains("OUTSIDER-free"));
    assert!(!reply_text(&owner_users).contains("CLASSIFIED-VALUE"), "the Owner lacks classified access too");
    let reader_users = reader.get(&format!("{base}/users")).await;
    assert!(reply_text(&reader_users).contains("CLASSIFIED-VALUE-in-1"), "{reader_users:?}");
    let reader_view = reader.get(&format!("{base}/users?workspace_id={view_id}")).await;
    assert_eq!(reader_view.status, StatusCode::OK, "the default view is open to every member");
    for user in ["in-1", "OUTSIDER-free", "OUTSIDER-abroad"] {
        let path = format!(
            "{base}/users/activity?distinct_id={user}&from_date={}&to_date={today}",
            range["from_date"].as_str().unwrap()
        );
        let reply = analyst.get(&path).await;
        let events = reply.results()["events"].to_string();
        clean(&format!("activity of {user}"), reply.status, &events);
        assert_eq!(user == "in-1", events != "[]", "activity of {user}: {reply:?}");
    }
    for path in ["events/live", "lexicon", "lexicon/export"] {
        let reply = analyst.request(reqwest::Method::GET, &format!("{base}/{path}")).send().await.unwrap();
        let (status, text) = (reply.status(), reply.text().await.unwrap());
        clean(path, status, &text);
    }
    let lexicon = analyst.get(&format!("{base}/lexicon")).await;
    let purchase =
        lexicon.results()["events"].as_array().unwrap().iter().find(|e| e["name"] == "Purchase").unwrap().clone();
    assert_eq!(purchase["count"], 3, "the view's own count: {purchase}");
    let cohort = analyst
        .post(
            &format!("{base}/cohorts"),
            json!({ "name": "Buyers", "shared": true, "definition": { "kind": "behavior", "event": "Purchase",
                "comparison": "at_least", "count": 1, "window": { "kind": "last_days", "days": 30 } } }),
        )
        .await;
    let cohort_id = cohort.results()["id"].as_i64().unwrap();
    let preview = analyst
        .post(
            &format!("{base}/cohorts/preview"),
            json!({ "definition": { "kind": "behavior", "event": "Purchase",
            "comparison": "at_least", "count": 1, "window": { "kind": "last_days", "days": 30 } } }),
        )
        .await;
    clean("cohort preview", preview.status, &reply_text(&preview));
    assert_eq!(preview.results()["count"], 2, "in-1 and in-2: {preview:?}");
    let selected = analyst
        .post(
            &format!("{base}/query/users"),
            json!({ "report": reports[4], "selection": { "kind": "funnel_step", "step": 0 } }),
        )
        .await;
    clean("the users of a funnel step", selected.status, &reply_text(&selected));
    assert_eq!(selected.results()["distinct_ids"], json!(["in-1", "in-2"]), "{selected:?}");
    for path in [format!("cohorts/{cohort_id}/users"), format!("cohorts/{cohort_id}/export")] {
        let reply = analyst.request(reqwest::Method::GET, &format!("{base}/{path}")).send().await.unwrap();
        let (status, text) = (reply.status(), reply.text().await.unwrap());
        clean(&path, status, &text);
        assert!(text.contains("in-1") && text.contains("in-2"), "{path}: {text}");
    }

    // The Query API, engage and the export, as a service account (it opens the default view).
    let account = owner
        .post(
            &format!("/api/app/organizations/{}/service-accounts", acme.org_id),
            json!({ "username": "viewbot", "role": "member", "projects": [{ "id": project.id, "role": "analyst" }] }),
        )
        .await;
    assert!(account.status.is_success(), "{account:?}");
    let robot = tally_testkit::http_client(None);
    let secret = account.results()["token"].as_str().unwrap().to_string();
    let from = range["from_date"].as_str().unwrap();
    let pid = project.id;
    let api_paths = [
        format!(
            "/api/query/segmentation?project_id={pid}&event=Purchase&from_date={from}&to_date={today}&on=properties[\"country\"]"
        ),
        format!("/api/query/events/names?project_id={pid}&type=general"),
        format!("/api/query/events/properties/values?project_id={pid}&event=Purchase&name=country"),
        format!("/api/2.0/engage?project_id={pid}"),
        format!("/api/2.0/export?project_id={pid}&from_date={from}&to_date={today}"),
        format!(
            "/api/query/stream/query?project_id={pid}&distinct_ids=[\"in-1\",\"OUTSIDER-free\"]&from_date={from}&to_date={today}"
        ),
        format!(
            "/api/query/events?project_id={pid}&event=[\"Purchase\"]&type=general&unit=day&from_date={from}&to_date={today}"
        ),
        format!("/api/query/events/top?project_id={pid}&type=general"),
        format!(
            "/api/query/events/properties?project_id={pid}&event=Purchase&name=country&type=general&unit=day&from_date={from}&to_date={today}"
        ),
        format!("/api/query/events/properties/top?project_id={pid}&event=Purchase"),
        format!(
            "/api/query/segmentation/numeric?project_id={pid}&event=Purchase&from_date={from}&to_date={today}&on=properties[\"amount\"]"
        ),
        format!(
            "/api/query/segmentation/sum?project_id={pid}&event=Purchase&from_date={from}&to_date={today}&on=properties[\"amount\"]"
        ),
        format!(
            "/api/query/funnels?project_id={pid}&events=[{{\"event\":\"Purchase\"}},{{\"event\":\"Page View\"}}]&from_date={from}&to_date={today}"
        ),
        format!("/api/query/retention?project_id={pid}&born_event=Purchase&from_date={from}&to_date={today}"),
    ];
    for path in &api_paths {
        let reply = robot
            .get(format!("{}{path}", server.base_url()))
            .basic_auth("viewbot", Some(secret.as_str()))
            .send()
            .await
            .unwrap();
        let (status, text) = (reply.status(), reply.text().await.unwrap());
        clean(path, status, &text);
    }
    let export = robot
        .get(format!("{}/api/2.0/export?project_id={pid}&from_date={from}&to_date={today}", server.base_url()))
        .basic_auth("viewbot", Some(secret.as_str()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(export.lines().count(), 5, "the view's five events: {export}");

    // A public link made in the view answers through it, signed out.
    assert!(owner.put(&format!("{base}/public-boards"), json!({ "enabled": true })).await.status.is_success());
    let board = analyst.post(&format!("{base}/boards"), json!({ "title": "View board" })).await.results()["id"]
        .as_i64()
        .unwrap();
    let bookmark = analyst
        .post(&format!("{base}/bookmarks"), json!({ "board_id": board, "name": "Purchases", "report": reports[1] }))
        .await;
    let bookmark = bookmark.results()["id"].as_i64().unwrap();
    let link = analyst.post(&format!("{base}/boards/{board}/public-links"), json!({})).await;
    assert_eq!(link.status, StatusCode::CREATED, "{link:?}");
    assert_eq!(link.results()["view_id"], view_id, "made in the analyst's view");
    let token = link.results()["url"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let public = tally_testkit::http_client(None)
        .get(format!("{}/api/public/boards/{token}/reports/{bookmark}", server.base_url()))
        .send()
        .await
        .unwrap();
    let (status, text) = (public.status(), public.text().await.unwrap());
    clean("the public report", status, &text);
    assert!(text.contains("NZ"), "{text}");

    // Deleting the view deletes the links made in it; the analyst then opens All Project Data.
    assert!(owner.delete(&format!("{base}/data-views/{view_id}")).await.status.is_success());
    let gone = tally_testkit::http_client(None)
        .get(format!("{}/api/public/boards/{token}", server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let everything = analyst.post(&format!("{base}/query"), reports[0].clone()).await;
    assert_eq!(everything.results()["series"][0]["total"], 6.0, "{everything:?}");
}
