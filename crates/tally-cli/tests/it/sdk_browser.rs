//! The official mixpanel-browser SDK (tests/peers/mixpanel-js/browser.mjs) in Debian's
//! headless Chromium, on a page of another origin than Tally: every call it has for events,
//! identities, profiles and groups, in each of its ways of sending them (the default
//! batches, one request per call, GET, raw JSON, sendBeacon), and what Tally stored, read
//! back through the raw export and the engage API.

use serde_json::{Value, json};
use tally_testkit::TestBackend;

use crate::access::world::tenant;
use crate::ingest::{Project, engage, export, production};
use crate::support::Instance;

/// The properties of the one profile (user, or group with `data_group_id`) `params` names.
async fn profile(server: &str, project: &Project, params: &str) -> Value {
    let answer = engage(server, project, params).await;
    assert_eq!(answer["results"].as_array().map(Vec::len), Some(1), "one profile for {params}: {answer}");
    answer["results"][0]["$properties"].clone()
}

/// Asserts that no profile answers to `params`.
async fn gone(server: &str, project: &Project, params: &str) {
    let answer = engage(server, project, params).await;
    assert_eq!(answer["results"], json!([]), "no profile for {params}: {answer}");
}

fn run_browser(args: &[&str]) -> Value {
    let peers = tally_testkit::oidc::node_peers().unwrap();
    let output = std::process::Command::new("node")
        .arg(peers.join("mixpanel-js").join("browser.mjs"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "browser.mjs: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(String::from_utf8(output.stdout).unwrap().trim()).unwrap()
}

fn names(events: &[Value]) -> Vec<&str> {
    events.iter().map(|event| event["event"].as_str().unwrap_or("?")).collect()
}

/// The one exported event called `name`.
fn one<'a>(events: &'a [Value], name: &str) -> &'a Value {
    let found: Vec<&Value> = events.iter().filter(|event| event["event"] == name).collect();
    assert_eq!(found.len(), 1, "one {name:?} event among {:?}", names(events));
    found[0]
}

/// What the page sent to Tally in `scenario`, as browser.mjs summarizes each request:
/// method, path, verbose, content_type, format (json or base64), batch, events, ops.
fn sent(answers: &Value, scenario: &str) -> Vec<Value> {
    answers["info"]["requests"].as_array().unwrap().iter().filter(|r| r["scenario"] == scenario).cloned().collect()
}

/// The request of `requests` to `path` whose `field` (events or ops) lists `item`.
fn carrying<'a>(requests: &'a [Value], path: &str, field: &str, item: &str) -> &'a Value {
    requests
        .iter()
        .find(|r| r["path"] == path && r[field].as_array().unwrap().iter().any(|value| value.as_str() == Some(item)))
        .unwrap_or_else(|| panic!("no {path} request with {item} in its {field}: {requests:#?}"))
}

fn strings(value: &Value) -> Vec<&str> {
    value.as_array().unwrap_or_else(|| panic!("not a list: {value}")).iter().filter_map(Value::as_str).collect()
}

#[tokio::test]
async fn mixpanel_browser_sends_every_call_every_way_and_tally_stores_it_all() {
    if tally_testkit::oidc::node_peers().is_none() {
        return;
    }
    let Some(chromium) = tally_testkit::chromium() else { return };
    let instance = Instance::new(TestBackend::Sqlite).await;
    let server = instance.serve().await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    // The script itself fails unless every SDK callback answer is 1 or {status: 1} and
    // every request it saw Tally answer was a 200 with such an answer.
    let answers = run_browser(&[server.base_url(), &project.token, &chromium]);
    let (server, project) = (server.base_url(), &project);
    let events = export(server, project, "").await;
    for event in &events {
        assert_eq!(event["properties"]["mp_lib"], "web", "{event}");
    }

    one_request_per_call(&answers, &events, server, project).await;
    batches(&answers, &events, server, project).await;
    other_ways(&answers, &events, server, project).await;
    alias(&answers, &events);
    people(&answers, &events, server, project).await;
    groups(&answers, &events, server, project).await;

    // delete_user: the profile is gone, though the user was identified and set first.
    let doomed = sent(&answers, "doomed");
    assert_eq!(carrying(&doomed, "/engage/", "ops", "$set")["status"], 200);
    assert_eq!(carrying(&doomed, "/engage/", "ops", "$delete")["status"], 200);
    assert!(events.iter().any(|e| e["event"] == "$identify" && e["properties"]["distinct_id"] == "doomed-user"));
    gone(server, project, "distinct_id=doomed-user").await;
}

/// batch_requests: false, the SDK's default otherwise (POST, base64 in a form body): an
/// anonymous event merged into the user identified afterwards, a profile, a group.
async fn one_request_per_call(answers: &Value, events: &[Value], server: &str, project: &Project) {
    assert_eq!(answers["track"], 1, "{answers}");
    let requests = sent(answers, "shop");
    let first = carrying(&requests, "/track/", "events", "Browser Event");
    assert_eq!(first["method"], "POST", "{first}");
    assert_eq!(first["content_type"], "application/x-www-form-urlencoded", "{first}");
    assert_eq!(first["format"], "base64", "{first}");
    assert_eq!(first["batch"], false, "{first}");

    let properties = &one(events, "Browser Event")["properties"];
    assert_eq!(properties["color"], "blue");
    assert_eq!(properties["count"], 3);
    assert_eq!(properties["$browser"], "Chrome");
    assert!(properties["$current_url"].as_str().unwrap().ends_with("/shop"), "{properties}");
    assert!(properties.get("$user_id").is_none(), "sent before identify: {properties}");
    assert_eq!(properties["distinct_id"], "browser-user", "the anonymous event is merged into the user afterwards");
    let purchase = &one(events, "Browser Purchase")["properties"];
    assert_eq!(purchase["amount"], 9.99);
    assert_eq!(purchase["$user_id"], "browser-user", "identify names the user");
    assert_eq!(purchase["$device_id"], properties["$device_id"], "the same device");

    let user = profile(server, project, "distinct_id=browser-user").await;
    assert_eq!(user["$email"], "browser@example.com", "{user}");
    assert_eq!(user["visits"], 4, "{user}");
    let group = profile(server, project, "data_group_id=company&distinct_id=initech").await;
    assert_eq!(group["size"], 12, "{group}");
}

/// The SDK's default: calls queue up and its batchers send arrays (POST, verbose=1), and
/// what is still queued when the page is hidden goes as one sendBeacon batch.
async fn batches(answers: &Value, events: &[Value], server: &str, project: &Project) {
    let flushes = answers["info"]["batched"]["flushes"].as_array().unwrap();
    assert!(
        flushes.iter().any(|f| f["type"] == "events" && f["transport"] == "XHR" && f["items"].as_i64() >= Some(5)),
        "the queued events go in one batch: {flushes:?}"
    );
    let requests = sent(answers, "batched");
    let batch = carrying(&requests, "/track/", "events", "Batch Event");
    assert_eq!(batch["method"], "POST", "{batch}");
    assert_eq!(batch["content_type"], "application/x-www-form-urlencoded", "{batch}");
    assert_eq!(batch["verbose"], true, "{batch}");
    assert_eq!(batch["batch"], true, "{batch}");
    assert_eq!(batch["format"], "base64", "{batch}");
    assert_eq!(strings(&batch["events"]).iter().filter(|name| **name == "Batch Event").count(), 5, "{batch}");
    for (path, op) in [("/engage/", "$set"), ("/engage/", "$add"), ("/groups/", "$set")] {
        let request = carrying(&requests, path, "ops", op);
        assert_eq!(request["batch"], true, "{request}");
        assert_eq!(request["verbose"], true, "{request}");
    }
    let unload = carrying(&requests, "/track/", "events", "Batch Unload");
    assert_eq!(unload["content_type"], "text/plain", "sendBeacon: {unload}");
    assert_eq!(unload["batch"], true, "{unload}");
    assert_eq!(unload["status"], 200, "{unload}");

    let mut numbers: Vec<i64> =
        events.iter().filter(|e| e["event"] == "Batch Event").map(|e| e["properties"]["n"].as_i64().unwrap()).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, vec![0, 1, 2, 3, 4], "{:?}", names(events));
    for event in events.iter().filter(|e| e["event"] == "Batch Event") {
        assert_eq!(event["properties"]["distinct_id"], "batch-user", "merged into the user: {event}");
        assert_eq!(event["properties"]["mp_sent_by_lib_version"], "2.83.0", "sent by a batcher: {event}");
    }
    let after = &one(events, "Batch After")["properties"];
    assert_eq!(after["$user_id"], "batch-user", "{after}");
    let unloaded = &one(events, "Batch Unload")["properties"];
    assert_eq!(unloaded["n"], 6, "{unloaded}");
    assert_eq!(unloaded["$user_id"], "batch-user", "{unloaded}");

    let user = profile(server, project, "distinct_id=batch-user").await;
    assert_eq!(user["batch"], "yes", "{user}");
    assert_eq!(user["batch_visits"], 2, "{user}");
    let team = profile(server, project, "data_group_id=team&distinct_id=batch-team").await;
    assert_eq!(team["seats"], 5, "{team}");
}

/// api_method GET (data= in the query), api_payload_format json (raw JSON in data=),
/// sendBeacon (text/plain bodies; per call for an event, by configuration for profiles),
/// and api_routes without the trailing slash.
async fn other_ways(answers: &Value, events: &[Value], server: &str, project: &Project) {
    for (scenario, user, via, method, content_type, format) in [
        ("get", "get-user", "GET", "GET", Value::Null, "base64"),
        ("json", "json-user", "json", "POST", json!("application/x-www-form-urlencoded"), "json"),
        ("beacon", "beacon-user", "sendBeacon", "POST", json!("text/plain"), "base64"),
    ] {
        let requests = sent(answers, scenario);
        assert!(requests.len() >= 4, "{scenario}: {requests:#?}");
        for request in &requests {
            assert_eq!(request["method"], method, "{scenario}: {request}");
            assert_eq!(request["content_type"], content_type, "{scenario}: {request}");
            assert_eq!(request["format"], format, "{scenario}: {request}");
            assert_eq!(request["batch"], false, "{scenario}: {request}");
            assert_eq!(request["status"], 200, "{scenario}: {request}");
        }
        carrying(&requests, "/engage/", "ops", "$set");
        carrying(&requests, "/groups/", "ops", "$set");

        let name = match scenario {
            "get" => "Get Event",
            "json" => "Json Event",
            _ => "Beacon Event",
        };
        carrying(&requests, "/track/", "events", name);
        let properties = &one(events, name)["properties"];
        assert_eq!(properties["via"], via, "{properties}");
        assert_eq!(properties["distinct_id"], user, "merged into the user identified afterwards: {properties}");
        let person = profile(server, project, &format!("distinct_id={user}")).await;
        assert_eq!(person["via"], via, "{person}");
        let team = profile(server, project, &format!("data_group_id=team&distinct_id={scenario}-team")).await;
        assert_eq!(team["via"], via, "{team}");
    }
    // Routes configured without their trailing slash.
    let requests = sent(answers, "routes");
    for path in ["/track", "/engage", "/groups"] {
        assert!(requests.iter().any(|r| r["path"] == path && r["status"] == 200), "{path}: {requests:#?}");
    }
    assert!(requests.iter().all(|r| !r["path"].as_str().unwrap().ends_with('/')), "{requests:#?}");
    assert_eq!(one(events, "Route Event")["properties"]["distinct_id"], "routes-user");
    assert_eq!(profile(server, project, "distinct_id=routes-user").await["via"], "routes");
    assert_eq!(profile(server, project, "data_group_id=team&distinct_id=routes-team").await["via"], "routes");

    // Raw JSON arrives URL-encoded: '+', '&', '~' and non-ASCII text survive it.
    let text = "café ~> +1 & more";
    assert_eq!(one(events, "Json Event")["properties"]["text"], text);
    assert_eq!(profile(server, project, "distinct_id=json-user").await["text"], text);
}

/// alias(): a $create_alias event for the anonymous id, then identify(alias).
fn alias(answers: &Value, events: &[Value]) {
    let info = &answers["info"]["alias"];
    let created = &one(events, "$create_alias")["properties"];
    assert_eq!(created["alias"], "alias-user", "{created}");
    assert_eq!(created["$device_id"], info["device"], "{created}");
    let identified = events
        .iter()
        .find(|e| e["event"] == "$identify" && e["properties"]["$anon_distinct_id"] == info["anonymous"])
        .unwrap_or_else(|| panic!("$identify after alias: {:?}", names(events)));
    assert_eq!(identified["properties"]["$user_id"], "alias-user", "{identified}");
    let before = &one(events, "Before Alias")["properties"];
    assert_eq!(before["distinct_id"], "alias-user", "merged into the alias: {before}");
    let after = &one(events, "After Alias")["properties"];
    assert_eq!(after["$user_id"], "alias-user", "{after}");
    assert_eq!(after["distinct_id"], "alias-user", "{after}");
}

/// Every people call on one user, in order; those made before identify are sent by it.
async fn people(answers: &Value, events: &[Value], server: &str, project: &Project) {
    let requests = sent(answers, "people");
    for op in ["$set", "$set_once", "$add", "$append", "$union", "$remove", "$unset"] {
        carrying(&requests, "/engage/", "ops", op);
    }
    let anonymous = &one(events, "People Anonymous")["properties"];
    assert!(anonymous.get("$user_id").is_none(), "sent before identify: {anonymous}");
    assert_eq!(anonymous["distinct_id"], "people-user", "{anonymous}");
    let identify = events
        .iter()
        .find(|e| {
            e["event"] == "$identify" && e["properties"]["$anon_distinct_id"] == answers["info"]["people"]["anonymous"]
        })
        .unwrap_or_else(|| panic!("$identify of people-user: {:?}", names(events)));
    assert_eq!(identify["properties"]["distinct_id"], "people-user", "{identify}");

    let user = profile(server, project, "distinct_id=people-user").await;
    // Queued before identify, sent by it.
    assert_eq!(user["early_plan"], "trial", "{user}");
    assert_eq!(user["early_once"], "first", "{user}");
    assert_eq!(user["early_count"], 2, "{user}");
    assert_eq!(user["early_list"], json!(["a"]), "{user}");
    assert_eq!(user["early_tags"], json!(["x", "y"]), "{user}");
    assert_eq!(user["$initial_referrer"], "$direct", "the SDK's own queued $set_once: {user}");
    // After identify.
    assert_eq!(user["$email"], "people@example.com", "{user}");
    assert_eq!(user["$name"], "People User", "{user}");
    assert_eq!(user["$browser"], "Chrome", "people.set adds the browser: {user}");
    assert_eq!(user["plan"], "pro", "{user}");
    assert_eq!(user["city"], "Lisbon", "set(name, value): {user}");
    assert_eq!(user["first"], "one", "set_once does not overwrite: {user}");
    assert_eq!(user["visits"], 5, "increment by 4, then by the default 1: {user}");
    assert_eq!(user["pages"], json!(["home", "cart"]), "{user}");
    assert_eq!(user["tags"], json!(["b", "c", "d"]), "union then remove: {user}");
    assert!(user.get("temp").is_none(), "unset: {user}");
    assert_eq!(user["$transactions"], json!([]), "clear_charges: {user}");
    // set_group, add_group, remove_group.
    assert_eq!(user["company"], json!(["initech", "globex"]), "{user}");

    // Super properties: register, register_once, time_event, track_pageview.
    let timed = &one(events, "Timed Event")["properties"];
    assert!(timed["$duration"].as_f64().is_some_and(|d| d >= 0.0), "time_event: {timed}");
    assert_eq!(timed["tier"], "gold", "register: {timed}");
    assert_eq!(timed["first_page"], "people", "register_once: {timed}");
    let page = &one(events, "$mp_web_page_view")["properties"];
    assert_eq!(page["page"], "people", "{page}");
    assert_eq!(page["$user_id"], "people-user", "{page}");
}

/// Groups: the user's own (set_group, add_group, remove_group register the group key as a
/// super property) and a group's profile through get_group().
async fn groups(answers: &Value, events: &[Value], server: &str, project: &Project) {
    let grouped = &one(events, "Group Event")["properties"];
    let company = strings(&grouped["company"]);
    // remove_group in 2.83.0 registers the shortened list under "group_key", not the key.
    assert!(company.contains(&"initech") && company.contains(&"globex"), "set_group, add_group: {grouped}");
    assert_eq!(grouped["$user_id"], "people-user", "{grouped}");
    let with_groups = &one(events, "With Groups")["properties"];
    assert_eq!(with_groups["team"], json!(["red"]), "track_with_groups: {with_groups}");
    assert_eq!(with_groups["n"], 2, "{with_groups}");

    let requests = sent(answers, "people");
    for op in ["$set", "$set_once", "$union", "$remove", "$unset", "$delete"] {
        carrying(&requests, "/groups/", "ops", op);
    }
    let hooli = profile(server, project, "data_group_id=company&distinct_id=hooli").await;
    assert_eq!(hooli["size"], 40, "{hooli}");
    assert_eq!(hooli["city"], "Palo Alto", "set(name, value): {hooli}");
    assert_eq!(hooli["founded"], 1998, "set_once does not overwrite: {hooli}");
    assert_eq!(hooli["tags"], json!(["b", "c"]), "union then remove: {hooli}");
    assert!(hooli.get("tier").is_none(), "unset: {hooli}");
    gone(server, project, "data_group_id=company&distinct_id=doomed-co").await;
}
