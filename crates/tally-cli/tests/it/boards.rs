//! Boards, saved reports and annotations over HTTP: who sees and changes a board (owner,
//! shares with users and teams, the project-wide access and its default, Consumers'
//! private boards), nesting and layout, saved reports linked, changed, duplicated, moved
//! and deleted, the Query API's saved reports, and Mixpanel's annotation paths.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tally_testkit::api::Api;
use tally_testkit::backends;

use crate::access::world::{server, tenant};
use crate::ingest::production;
use crate::support::Instance;

fn ids(list: &Value) -> Vec<i64> {
    list.as_array().unwrap().iter().map(|item| item["id"].as_i64().unwrap()).collect()
}

fn insights(event: &str) -> Value {
    json!({ "type": "insights", "range": { "from_date": "2026-01-01", "to_date": "2026-01-03" },
        "metrics": [{ "event": event, "measure": { "kind": "total" } }] })
}

#[tokio::test]
async fn boards_are_shared_nested_laid_out_and_hold_saved_reports() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let server = server(&instance).await;
        let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
        let project = acme.projects[0];
        let base = format!("/api/app/projects/{project}");
        let member = |email: &'static str, role: &'static str| {
            let owner = &acme.owner;
            async move {
                owner.invite_and_accept(acme.org_id, email, "member", json!([{ "id": project, "role": role }])).await
            }
        };
        let (analyst, analyst_id) = member("analyst@acme.example", "analyst").await;
        let (consumer, consumer_id) = member("consumer@acme.example", "consumer").await;
        let (teammate, teammate_id) = member("teammate@acme.example", "consumer").await;
        let (admin, _) = member("admin@acme.example", "admin").await;

        // An Analyst's board is open to the project as a viewer by default.
        let board = analyst.post(&format!("{base}/boards"), json!({ "title": "Growth" })).await;
        assert_eq!(board.status, StatusCode::CREATED, "{board:?}");
        assert_eq!(board.results()["private"], false);
        let growth = board.results()["id"].as_i64().unwrap();
        let board_path = format!("{base}/boards/{growth}");
        let seen = consumer.get(&board_path).await;
        assert_eq!(seen.results()["your_access"], "viewer", "{seen:?}");
        assert_eq!(seen.results()["project_access"], "viewer");
        assert!(ids(consumer.get(&format!("{base}/boards")).await.results()).contains(&growth));
        let refused = consumer.patch(&board_path, json!({ "title": "Mine now" })).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "a viewer cannot change it: {refused:?}");
        assert!(seen.results()["shares"].as_array().unwrap().is_empty(), "sharing is for its editors");

        // Project-wide off: gone from the Consumer's list, still open by its link.
        let shared = analyst
            .put(
                &format!("{board_path}/sharing"),
                json!({ "shares": [{ "user_id": consumer_id, "access": "editor" }],
                "project_access": "off" }),
            )
            .await;
        assert_eq!(shared.status, StatusCode::OK, "{shared:?}");
        assert_eq!(shared.results()["shares"], json!([{ "user_id": consumer_id, "access": "editor" }]));
        let listed = ids(teammate.get(&format!("{base}/boards")).await.results());
        assert!(!listed.contains(&growth), "not discoverable for others: {listed:?}");
        assert_eq!(teammate.get(&board_path).await.results()["your_access"], "viewer", "but open by link");
        // The Consumer, an editor by share, changes it but may not change its sharing.
        let renamed = consumer.patch(&board_path, json!({ "title": "Growth (Q1)" })).await;
        assert_eq!(renamed.status, StatusCode::OK, "{renamed:?}");
        assert_eq!(renamed.results()["title"], "Growth (Q1)");
        let reshare = consumer.put(&format!("{board_path}/sharing"), json!({ "shares": [] })).await;
        assert_eq!(reshare.status, StatusCode::FORBIDDEN, "{reshare:?}");
        // A team share: the teammate edits once their team is an editor.
        let team = acme
            .owner
            .post(&format!("/api/app/organizations/{}/teams", acme.org_id), json!({ "name": "Growth team" }))
            .await;
        let team_id = team.results()["id"].as_i64().unwrap();
        acme.owner
            .post(
                &format!("/api/app/organizations/{}/teams/{team_id}/members", acme.org_id),
                json!({ "user_id": teammate_id }),
            )
            .await;
        assert_eq!(teammate.patch(&board_path, json!({ "description": "x" })).await.status, StatusCode::FORBIDDEN);
        analyst
            .put(
                &format!("{board_path}/sharing"),
                json!({ "shares": [{ "user_id": consumer_id, "access": "editor" },
                { "team_id": team_id, "access": "editor" }], "project_access": "off" }),
            )
            .await;
        assert!(ids(teammate.get(&format!("{base}/boards")).await.results()).contains(&growth));
        assert_eq!(teammate.patch(&board_path, json!({ "description": "Our numbers" })).await.status, StatusCode::OK);
        // A share names a member or a team of this organization only.
        let stranger = analyst
            .put(&format!("{board_path}/sharing"), json!({ "shares": [{ "user_id": 999_999, "access": "viewer" }] }))
            .await;
        assert_eq!(stranger.status, StatusCode::BAD_REQUEST, "{stranger:?}");

        // A Consumer's own board is private: others get 404, as for a board that is not there.
        let private = consumer.post(&format!("{base}/boards"), json!({ "title": "Scratch" })).await;
        assert_eq!(private.results()["private"], true, "{private:?}");
        let scratch = private.results()["id"].as_i64().unwrap();
        assert_eq!(analyst.get(&format!("{base}/boards/{scratch}")).await.status, StatusCode::NOT_FOUND);
        assert_eq!(acme.owner.get(&format!("{base}/boards/{scratch}")).await.status, StatusCode::NOT_FOUND);
        assert!(!ids(analyst.get(&format!("{base}/boards")).await.results()).contains(&scratch));
        assert!(ids(consumer.get(&format!("{base}/boards")).await.results()).contains(&scratch));

        // Nesting: three levels, no more, and never under itself.
        let child = analyst.post(&format!("{base}/boards"), json!({ "title": "Child", "parent_id": growth })).await;
        let child = child.results()["id"].as_i64().unwrap();
        let grandchild =
            analyst.post(&format!("{base}/boards"), json!({ "title": "Grandchild", "parent_id": child })).await;
        let grandchild = grandchild.results()["id"].as_i64().unwrap();
        let too_deep =
            analyst.post(&format!("{base}/boards"), json!({ "title": "Too deep", "parent_id": grandchild })).await;
        assert_eq!(too_deep.status, StatusCode::BAD_REQUEST, "{too_deep:?}");
        let cycle = analyst.patch(&board_path, json!({ "parent_id": grandchild })).await;
        assert_eq!(cycle.status, StatusCode::BAD_REQUEST, "{cycle:?}");
        let deleted_parent = analyst.delete(&format!("{base}/boards/{child}")).await;
        assert_eq!(deleted_parent.status, StatusCode::CONFLICT, "a board with nested boards stays: {deleted_parent:?}");

        // Saved reports: saved to a board, linked to another, changed once for both.
        let saved = analyst
            .post(
                &format!("{base}/bookmarks"),
                json!({ "board_id": growth, "name": "Sign-ups", "report": insights("Sign Up") }),
            )
            .await;
        assert_eq!(saved.status, StatusCode::CREATED, "{saved:?}");
        assert_eq!(saved.results()["type"], "insights");
        let signups = saved.results()["id"].as_i64().unwrap();
        let other = analyst.post(&format!("{base}/boards"), json!({ "title": "Weekly" })).await.results()["id"]
            .as_i64()
            .unwrap();
        let linked = analyst.post(&format!("{base}/boards/{other}/cards"), json!({ "bookmark_id": signups })).await;
        assert_eq!(linked.status, StatusCode::CREATED, "{linked:?}");
        let again = analyst.post(&format!("{base}/boards/{other}/cards"), json!({ "bookmark_id": signups })).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "one card per report and board: {again:?}");
        let changed = analyst
            .patch(
                &format!("{base}/bookmarks/{signups}"),
                json!({ "name": "Sign-ups per day", "report": insights("Signed Up") }),
            )
            .await;
        assert_eq!(changed.status, StatusCode::OK, "{changed:?}");
        let weekly = analyst.get(&format!("{base}/boards/{other}")).await;
        assert_eq!(weekly.results()["reports"][0]["name"], "Sign-ups per day", "the linked copy shows the change");
        assert_eq!(weekly.results()["reports"][0]["report"]["metrics"][0]["event"], "Signed Up");
        let wrong_type = analyst
            .patch(&format!("{base}/bookmarks/{signups}"), json!({ "report": { "type": "funnels",
                "range": { "from_date": "2026-01-01", "to_date": "2026-01-03" }, "steps": [{ "event": "a" }, { "event": "b" }] } }))
            .await;
        assert_eq!(wrong_type.status, StatusCode::BAD_REQUEST, "{wrong_type:?}");
        // A viewer of the report may duplicate it to a board of their own, not change it.
        let mine = admin.post(&format!("{base}/boards"), json!({ "title": "Admin's" })).await.results()["id"]
            .as_i64()
            .unwrap();
        analyst.put(&format!("{board_path}/sharing"), json!({ "shares": [], "project_access": "viewer" })).await;
        assert_eq!(
            teammate.patch(&format!("{base}/bookmarks/{signups}"), json!({ "name": "x" })).await.status,
            StatusCode::FORBIDDEN
        );
        let copy = admin.post(&format!("{base}/bookmarks/{signups}/duplicate"), json!({ "board_id": mine })).await;
        assert_eq!(copy.status, StatusCode::CREATED, "{copy:?}");
        assert_eq!(copy.results()["name"], "Copy of Sign-ups per day");
        assert_eq!(copy.results()["board_id"], mine);
        // Moving makes the other board its own; its card moves with it.
        let moved = analyst.post(&format!("{base}/bookmarks/{signups}/move"), json!({ "board_id": other })).await;
        assert_eq!(moved.status, StatusCode::OK, "{moved:?}");
        let growth_cards = analyst.get(&board_path).await.results()["cards"].clone();
        assert!(growth_cards.as_array().unwrap().iter().all(|card| card["bookmark_id"] != signups), "{growth_cards}");

        // Layout: rows of up to four cards, each card once.
        let text = analyst.post(&format!("{base}/boards/{other}/cards"), json!({ "text": "## This week" })).await;
        assert_eq!(text.status, StatusCode::CREATED, "{text:?}");
        let text_id = text.results()["id"].as_i64().unwrap();
        let cards = ids(&analyst.get(&format!("{base}/boards/{other}")).await.results()["cards"]);
        assert_eq!(cards.len(), 2);
        let laid =
            analyst.put(&format!("{base}/boards/{other}/layout"), json!({ "rows": [[text_id, cards[0]]] })).await;
        assert_eq!(laid.status, StatusCode::OK, "{laid:?}");
        assert_eq!(laid.results()[0]["id"], text_id);
        assert_eq!((laid.results()[1]["row"].clone(), laid.results()[1]["col"].clone()), (json!(0), json!(1)));
        let five = analyst
            .put(&format!("{base}/boards/{other}/layout"), json!({ "rows": [[text_id, cards[0], 1, 2, 3]] }))
            .await;
        assert_eq!(five.status, StatusCode::BAD_REQUEST);
        let missing = analyst.put(&format!("{base}/boards/{other}/layout"), json!({ "rows": [[text_id]] })).await;
        assert_eq!(missing.status, StatusCode::BAD_REQUEST, "every card is placed: {missing:?}");
        assert_eq!(
            analyst
                .patch(&format!("{base}/boards/{other}/cards/{text_id}"), json!({ "text": "## Last week" }))
                .await
                .status,
            StatusCode::OK
        );

        // The project's default: an Admin opens every board to editing.
        assert_eq!(
            consumer.put(&format!("{base}/board-settings"), json!({ "default_access": "editor" })).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            teammate.patch(&format!("{base}/boards/{other}"), json!({ "title": "x" })).await.status,
            StatusCode::FORBIDDEN
        );
        let opened = admin.put(&format!("{base}/board-settings"), json!({ "default_access": "editor" })).await;
        assert_eq!(opened.status, StatusCode::OK, "{opened:?}");
        assert_eq!(
            teammate.patch(&format!("{base}/boards/{other}"), json!({ "title": "Weekly" })).await.status,
            StatusCode::OK
        );
        admin.put(&format!("{base}/board-settings"), json!({ "default_access": "viewer" })).await;

        // The Query API answers saved reports as Mixpanel does.
        let keys = production(&acme).await;
        let query_api = |path: String| {
            let secret = keys.secret.clone();
            let url = format!("{}{path}", server.base_url());
            async move {
                let reply =
                    tally_testkit::http_client(None).get(url).basic_auth(secret, Some("")).send().await.unwrap();
                (reply.status(), reply.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        let (status, answer) = query_api(format!("/api/query/insights?bookmark_id={signups}")).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["date_range"], json!({ "from_date": "2026-01-01", "to_date": "2026-01-03" }));
        assert_eq!(answer["headers"], json!(["$event"]));
        let series = answer["series"].as_object().unwrap();
        assert_eq!(series.len(), 1, "{answer}");
        let points = series.values().next().unwrap().as_object().unwrap();
        assert_eq!(points.len(), 3);
        assert!(points.keys().all(|date| date.starts_with("2026-01-0") && date.contains('T')), "{answer}");
        let funnel = analyst
            .post(&format!("{base}/bookmarks"), json!({ "board_id": other, "name": "Activation", "report": { "type": "funnels",
                "range": { "from_date": "2026-01-01", "to_date": "2026-01-02" }, "steps": [{ "event": "Sign Up" }, { "event": "Purchase" }] } }))
            .await;
        let funnel_id = funnel.results()["id"].as_i64().unwrap();
        let (_, list) = query_api("/api/query/funnels/list".into()).await;
        assert_eq!(list, json!([{ "funnel_id": funnel_id, "name": "Activation" }]));
        let (status, answered) = query_api(format!("/api/query/funnels?funnel_id={funnel_id}")).await;
        assert_eq!(status, StatusCode::OK, "{answered}");
        assert_eq!(answered["meta"]["dates"], json!(["2026-01-01", "2026-01-02"]));
        let (status, _) = query_api(format!("/api/query/funnels?funnel_id={signups}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "an Insights report is no funnel");
        // A report on a Consumer's private board is not served to the API either.
        let hidden = consumer
            .post(&format!("{base}/bookmarks"), json!({ "board_id": scratch, "name": "Mine", "report": insights("x") }))
            .await;
        assert_eq!(hidden.status, StatusCode::CREATED, "{hidden:?}");
        let hidden = hidden.results()["id"].as_i64().unwrap();
        assert_eq!(query_api(format!("/api/query/insights?bookmark_id={hidden}")).await.0, StatusCode::NOT_FOUND);
        assert_eq!(analyst.get(&format!("{base}/bookmarks/{hidden}")).await.status, StatusCode::NOT_FOUND);
        assert!(!ids(analyst.get(&format!("{base}/bookmarks")).await.results()).contains(&hidden));

        // Transfer: the new owner deletes; the old one, no admin, no longer may.
        let given = analyst.post(&format!("{base}/boards/{other}/transfer"), json!({ "owner_id": consumer_id })).await;
        assert_eq!(given.status, StatusCode::OK, "{given:?}");
        assert_eq!(given.results()["owner_id"], consumer_id);
        assert_eq!(analyst.delete(&format!("{base}/boards/{other}")).await.status, StatusCode::FORBIDDEN);
        assert_eq!(consumer.delete(&format!("{base}/boards/{other}")).await.status, StatusCode::OK);
        assert_eq!(
            analyst.get(&format!("{base}/bookmarks/{signups}")).await.status,
            StatusCode::NOT_FOUND,
            "its reports went with it"
        );
        assert_eq!(analyst.get(&format!("{base}/boards/{other}")).await.status, StatusCode::NOT_FOUND);

        // The audit log tells what happened to boards and reports.
        let audit = acme.owner.get(&format!("{base}/audit-log")).await;
        let events: Vec<&str> =
            audit.results().as_array().unwrap().iter().filter_map(|entry| entry["event_type"].as_str()).collect();
        for expected in [
            "board.created",
            "board.shared",
            "bookmark.created",
            "bookmark.moved",
            "board.transferred",
            "board.deleted",
        ] {
            assert!(events.contains(&expected), "{expected} in {events:?}");
        }
        let _ = analyst_id;
    }
}

#[tokio::test]
async fn annotations_follow_mixpanels_paths_in_the_projects_time_zone() {
    let instance = Instance::new(tally_testkit::TestBackend::Sqlite).await;
    let server = server(&instance).await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = acme.projects[0];
    let base = format!("/api/app/projects/{project}");
    acme.owner.patch(&base, json!({ "timezone": "America/New_York" })).await.results();
    let invite = |email: &'static str, role: &'static str| {
        let owner = &acme.owner;
        async move {
            owner.invite_and_accept(acme.org_id, email, "member", json!([{ "id": project, "role": role }])).await.0
        }
    };
    let analyst: Api = invite("analyst@acme.example", "analyst").await;
    let consumer: Api = invite("consumer@acme.example", "consumer").await;

    let tag = analyst.post(&format!("{base}/annotations/tags"), json!({ "name": "Release" })).await;
    assert_eq!(tag.status, StatusCode::CREATED, "{tag:?}");
    let tag_id = tag.results()["id"].as_i64().unwrap();
    assert_eq!(tag.results()["has_annotations"], false);
    let made = analyst
        .post(
            &format!("{base}/annotations"),
            json!({ "date": "2026-03-10 23:30:00", "description": "v2 shipped", "tags": [tag_id] }),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    assert_eq!(made.results()["date"], "2026-03-10 23:30:00", "shown in the project's zone as sent");
    let id = made.results()["id"].as_i64().unwrap();
    assert_eq!(
        consumer
            .post(&format!("{base}/annotations"), json!({ "date": "2026-03-10 10:00:00", "description": "no" }))
            .await
            .status,
        StatusCode::FORBIDDEN,
        "Analyst and above create annotations"
    );
    let bad = analyst.post(&format!("{base}/annotations"), json!({ "date": "10/03/2026", "description": "x" })).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body["error"].as_str().unwrap_or_default().contains("2026-11-27 14:30:00"), "{bad:?}");
    let foreign_tag = analyst
        .post(
            &format!("{base}/annotations"),
            json!({ "date": "2026-03-10 10:00:00", "description": "x", "tags": [tag_id + 1000] }),
        )
        .await;
    assert_eq!(foreign_tag.status, StatusCode::BAD_REQUEST, "{foreign_tag:?}");

    // Days are the project's: 23:30 in New York on the 10th is the 11th in UTC.
    let on = |from: &str, to: &str| format!("{base}/annotations?fromDate={from}&toDate={to}");
    assert_eq!(ids(consumer.get(&on("2026-03-10", "2026-03-10")).await.results()), vec![id]);
    assert!(ids(consumer.get(&on("2026-03-11", "2026-03-12")).await.results()).is_empty());
    assert_eq!(consumer.get(&format!("{base}/annotations/tags")).await.results()[0]["has_annotations"], true);

    let changed =
        analyst.patch(&format!("{base}/annotations/{id}"), json!({ "description": "v2.0 shipped", "tags": [] })).await;
    assert_eq!(changed.status, StatusCode::OK, "{changed:?}");
    assert_eq!(changed.results()["tags"], json!([]));
    let time_fixed = analyst.patch(&format!("{base}/annotations/{id}"), json!({ "date": "2026-03-11 00:00:00" })).await;
    assert_eq!(time_fixed.status, StatusCode::BAD_REQUEST, "an annotation's time never changes");
    assert_eq!(consumer.get(&format!("{base}/annotations/{id}")).await.results()["description"], "v2.0 shipped");
    assert_eq!(consumer.delete(&format!("{base}/annotations/{id}")).await.status, StatusCode::FORBIDDEN);
    assert_eq!(analyst.delete(&format!("{base}/annotations/{id}")).await.status, StatusCode::OK);
    assert_eq!(analyst.get(&format!("{base}/annotations/{id}")).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_public_link_shows_one_board_signed_out_and_nothing_else() {
    let instance = Instance::new(tally_testkit::TestBackend::Sqlite).await;
    let env = [("TALLY_INVITATIONS_PER_DOMAIN_PER_HOUR", "100000"), ("TALLY_QUERY_PUBLIC_PER_HOUR", "12")];
    let server = instance.serve_with(&[], &env).await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = acme.projects[0];
    let base = format!("/api/app/projects/{project}");
    let invite = |email: &'static str, role: &'static str| {
        let owner = &acme.owner;
        async move {
            owner.invite_and_accept(acme.org_id, email, "member", json!([{ "id": project, "role": role }])).await.0
        }
    };
    let analyst: Api = invite("analyst@acme.example", "analyst").await;
    let admin: Api = invite("admin@acme.example", "admin").await;
    let consumer: Api = invite("consumer@acme.example", "consumer").await;
    let board =
        analyst.post(&format!("{base}/boards"), json!({ "title": "Launch" })).await.results()["id"].as_i64().unwrap();
    let other =
        analyst.post(&format!("{base}/boards"), json!({ "title": "Internal" })).await.results()["id"].as_i64().unwrap();
    let shown = analyst
        .post(
            &format!("{base}/bookmarks"),
            json!({ "board_id": board, "name": "Sign-ups", "report": insights("Sign Up") }),
        )
        .await
        .results()["id"]
        .as_i64()
        .unwrap();
    let hidden = analyst
        .post(
            &format!("{base}/bookmarks"),
            json!({ "board_id": other, "name": "Revenue", "report": insights("Purchase") }),
        )
        .await
        .results()["id"]
        .as_i64()
        .unwrap();
    analyst.post(&format!("{base}/boards/{board}/cards"), json!({ "text": "Launch week" })).await.results();
    let links = format!("{base}/boards/{board}/public-links");

    // Off by default; only the project's Owner turns the feature on.
    let off = analyst.post(&links, json!({})).await;
    assert_eq!(off.status, StatusCode::CONFLICT, "{off:?}");
    assert_eq!(
        admin.put(&format!("{base}/public-boards"), json!({ "enabled": true })).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        acme.owner.put(&format!("{base}/public-boards"), json!({ "enabled": true })).await.status,
        StatusCode::OK
    );
    assert_eq!(consumer.post(&links, json!({})).await.status, StatusCode::FORBIDDEN, "Consumers make no public links");
    let link = analyst.post(&links, json!({})).await;
    assert_eq!(link.status, StatusCode::CREATED, "{link:?}");
    assert!(link.results().get("passcode").is_none());
    let url = link.results()["url"].as_str().unwrap().to_string();
    let token = url.rsplit('/').next().unwrap().to_string();
    assert!(url.contains("/public/boards/") && token.len() >= 32, "{url}");

    // Signed out: the board, its text and its one report, answered as saved.
    let anonymous = tally_testkit::http_client(None);
    let public = |path: String, passcode: Option<String>| {
        let request = anonymous.get(format!("{}{path}", server.base_url()));
        let request = match passcode {
            Some(passcode) => request.header("x-tally-passcode", passcode),
            None => request,
        };
        async move {
            let reply = request.send().await.unwrap();
            (reply.status(), reply.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, page) = public(format!("/api/public/boards/{token}"), None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["results"]["title"], "Launch");
    assert_eq!(ids(&page["results"]["reports"]), vec![shown]);
    assert!(page["results"]["cards"].as_array().unwrap().iter().any(|card| card["text"] == "Launch week"));
    let (status, answer) = public(format!("/api/public/boards/{token}/reports/{shown}"), None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["results"]["type"], "insights");
    assert_eq!(answer["results"]["range"]["from_date"], "2026-01-01", "the saved settings");
    // No other report and no other query through the link.
    assert_eq!(public(format!("/api/public/boards/{token}/reports/{hidden}"), None).await.0, StatusCode::NOT_FOUND);
    let adhoc =
        anonymous.post(format!("{}{base}/query", server.base_url())).json(&insights("Purchase")).send().await.unwrap();
    assert_eq!(adhoc.status(), StatusCode::UNAUTHORIZED, "a link is no session");
    assert_eq!(public(format!("/api/public/boards/{token}x"), None).await.0, StatusCode::NOT_FOUND);

    // A passcode, shown once, is asked for.
    let guarded = analyst.post(&links, json!({ "passcode": true })).await;
    let passcode = guarded.results()["passcode"].as_str().unwrap().to_string();
    let guarded_token = guarded.results()["url"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let (status, refused) = public(format!("/api/public/boards/{guarded_token}"), None).await;
    assert_eq!((status, refused["code"].clone()), (StatusCode::UNAUTHORIZED, json!("passcode_required")));
    assert_eq!(
        public(format!("/api/public/boards/{guarded_token}"), Some("wrong".into())).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(public(format!("/api/public/boards/{guarded_token}"), Some(passcode.clone())).await.0, StatusCode::OK);
    let listed = analyst.get(&format!("{base}/public-links")).await;
    let listed = listed.results().as_array().unwrap().clone();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|link| link.get("passcode").is_none()), "never shown again: {listed:?}");
    assert_eq!(listed[0]["url"], url.as_str(), "the address can be found again");

    // Rate limited per link: twelve an hour here, counting what this link already answered.
    let mut answered = 3;
    loop {
        let (status, _) = public(format!("/api/public/boards/{guarded_token}"), Some(passcode.clone())).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        answered += 1;
        assert!(answered <= 12, "the limit holds");
    }
    assert_eq!(answered, 12);
    assert_eq!(public(format!("/api/public/boards/{token}"), None).await.0, StatusCode::OK, "another link has its own");

    // Revoked: gone. Feature off: every link gone, and they stay gone when it is on again.
    let first_id = listed[0]["id"].as_i64().unwrap();
    assert_eq!(consumer.delete(&format!("{base}/public-links/{first_id}")).await.status, StatusCode::FORBIDDEN);
    assert_eq!(analyst.delete(&format!("{base}/public-links/{first_id}")).await.status, StatusCode::OK);
    assert_eq!(public(format!("/api/public/boards/{token}"), None).await.0, StatusCode::NOT_FOUND);
    let again = analyst.post(&links, json!({})).await;
    let again_token = again.results()["url"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    assert_eq!(public(format!("/api/public/boards/{again_token}"), None).await.0, StatusCode::OK);
    acme.owner.put(&format!("{base}/public-boards"), json!({ "enabled": false })).await.results();
    assert_eq!(public(format!("/api/public/boards/{again_token}"), None).await.0, StatusCode::NOT_FOUND);
    acme.owner.put(&format!("{base}/public-boards"), json!({ "enabled": true })).await.results();
    assert_eq!(public(format!("/api/public/boards/{again_token}"), None).await.0, StatusCode::NOT_FOUND);
    assert!(analyst.get(&format!("{base}/public-links")).await.results().as_array().unwrap().is_empty());
}
