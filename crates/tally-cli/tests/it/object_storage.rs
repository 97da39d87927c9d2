//! Event files in an S3-compatible bucket: a real S3 server on loopback (moto), reached
//! through the same S3 client Tally uses against AWS.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tally_testkit::TestBackend;

use crate::access::world::tenant;
use crate::ingest::{export, files_named, import_rows, now_s, production};
use crate::support::Instance;

#[tokio::test]
async fn a_regions_event_files_live_in_its_bucket_and_survive_a_restart_and_compaction() {
    let Some(python) = tally_testkit::python() else { return };
    let s3 = tally_testkit::s3::S3Server::start(&python, "tally-events").await;
    let instance = Instance::new(TestBackend::Sqlite).await;
    let config = instance.data_dir.with_file_name("tally.toml");
    std::fs::write(&config, s3.region_toml("us", "prod/us")).unwrap();
    let flush_often = [("TALLY_INGEST_FLUSH_SECONDS", "1")];
    let args = ["--config", config.to_str().unwrap()];
    let mut server = instance.serve_with(&args, &flush_often).await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;

    // Two closed days of events, in two imports: the second day gets two files, which
    // compaction merges.
    let base = now_s();
    let rows = |range: std::ops::Range<i64>| -> Vec<Value> {
        range
            .map(|n| {
                json!({ "event": if n % 3 == 0 { "Signed Up" } else { "Played" }, "properties": {
                    "time": base - (2 + n % 2) * 86_400 - n, "distinct_id": format!("u{}", n % 7),
                    "$insert_id": format!("id-{n}") } })
            })
            .collect()
    };
    let reply = import_rows(server.base_url(), &project, &rows(0..200)).await;
    assert_eq!(reply.status(), StatusCode::OK);
    let event_files = || async { s3.keys("prod/us/project=").await };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while event_files().await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "no flush into the bucket within 30 s");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let flushed = event_files().await;
    assert!(flushed.iter().all(|key| key.starts_with(&format!("prod/us/project={}/day=", project.id))), "{flushed:?}");
    // Without a configured id, the node made one and kept it in the data dir; its files
    // carry it.
    let node = std::fs::read_to_string(instance.data_dir.join("node-id")).unwrap();
    assert!(node.trim().starts_with("node-"), "{node}");
    assert!(flushed.iter().all(|key| key.contains(&format!("/flush-{}_", node.trim()))), "{flushed:?}");
    let local: Vec<_> = files_named(&instance.data_dir, ".parquet")
        .into_iter()
        .filter(|path| !path.display().to_string().contains("/profiles/"))
        .collect();
    assert!(local.is_empty(), "no event file on the local disk: {local:?}");

    // The query engine reads the bucket: a report and the export.
    let all = export(server.base_url(), &project, "").await;
    assert_eq!(all.len(), 200, "{}", server.output_so_far().join("\n"));
    let today = tally_types::Clock::now(&tally_types::SystemClock).to_zoned(jiff::tz::TimeZone::UTC).date();
    let week_ago = today.checked_sub(jiff::Span::new().days(7)).unwrap();
    let report = json!({ "type": "insights", "range": { "from_date": week_ago.to_string(), "to_date": today.to_string() },
        "unit": "day", "metrics": [{ "event": "Signed Up", "measure": { "kind": "total" } }] });
    let path = format!("/api/app/projects/{}/query", project.id);
    let answer = acme.owner.post(&path, report.clone()).await;
    assert_eq!(answer.results()["series"][0]["total"].as_f64(), Some(67.0), "{:?}", answer.body);

    // Another import (the same 50 events again and 50 new ones), then compaction: one file
    // per partition, the replaced files deleted from the bucket, one copy of each event.
    let reply = import_rows(server.base_url(), &project, &rows(150..250)).await;
    assert_eq!(reply.status(), StatusCode::OK);
    while !event_files().await.iter().any(|key| key.contains("/compact-")) {
        assert!(std::time::Instant::now() < deadline, "no compaction within 30 s");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(export(server.base_url(), &project, "").await.len(), 250, "one copy of each event");

    // A restart reads everything back from the bucket.
    server.terminate();
    assert!(server.wait(std::time::Duration::from_secs(20)).await.success());
    let output = server.output_so_far().join("\n");
    assert!(!output.contains(tally_testkit::s3::SECRET), "the bucket's secret key is never logged");
    let server = instance.serve_with(&args, &flush_often).await;
    assert_eq!(export(server.base_url(), &project, "").await.len(), 250);
    let owner =
        tally_testkit::api::Api::sign_in(server.base_url(), "owner@acme.example", tally_testkit::api::PASSWORD).await;
    let answer = owner.post(&path, report).await;
    assert_eq!(answer.results()["series"][0]["total"].as_f64(), Some(84.0), "{:?}", answer.body);
}

#[tokio::test]
async fn a_bucket_that_cannot_be_reached_stops_the_server_with_a_clear_error() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = instance.data_dir.with_file_name("tally.toml");
    let region = format!(
        "[[regions]]\nname = \"us\"\nstorage = \"s3://tally-events/us\"\ns3_endpoint = \"http://127.0.0.1:{closed}\"\n\
         s3_region = \"us-east-1\"\ns3_access_key_id = \"k\"\ns3_secret_access_key = \"{}\"\ns3_allow_http = true\n",
        tally_testkit::s3::SECRET
    );
    std::fs::write(&config, region).unwrap();
    let output = instance.command(&["serve", "--config", config.to_str().unwrap()], None).await;
    assert!(!output.status.success(), "{}", output.stdout);
    assert!(output.stderr.contains("s3://tally-events/us"), "{}", output.stderr);
    assert!(output.stderr.contains("bucket"), "{}", output.stderr);
    assert!(!output.stderr.contains(tally_testkit::s3::SECRET), "{}", output.stderr);

    // A storage URL that names no bucket is refused before anything starts.
    std::fs::write(&config, "[[regions]]\nname = \"us\"\nstorage = \"s3://\"\n").unwrap();
    let output = instance.command(&["serve", "--config", config.to_str().unwrap()], None).await;
    assert!(!output.status.success());
    assert!(output.stderr.contains("does not name a bucket"), "{}", output.stderr);
}

/// The keys of `node`'s event files in the bucket (its flushes and compactions).
async fn files_of(s3: &tally_testkit::s3::S3Server, node: &str) -> Vec<String> {
    let own = [format!("/flush-{node}_"), format!("/compact-{node}_")];
    s3.keys("").await.into_iter().filter(|key| own.iter().any(|mark| key.contains(mark.as_str()))).collect()
}

#[tokio::test]
async fn two_ingest_nodes_share_a_bucket_and_a_killed_one_loses_nothing_and_deletes_nothing_of_the_other() {
    let Some(python) = tally_testkit::python() else { return };
    if !tally_testkit::backends().contains(&TestBackend::Postgres) {
        return;
    }
    let s3 = tally_testkit::s3::S3Server::start(&python, "tally-shared").await;
    let instance = Instance::new(TestBackend::Postgres).await;
    let config = instance.data_dir.with_file_name("tally.toml");
    std::fs::write(&config, s3.region_toml("us", "events")).unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let node_a = instance.serve_with(&args, &[("TALLY_NODE_ID", "node-a"), ("TALLY_INGEST_FLUSH_SECONDS", "1")]).await;
    // Node B: the same metadata database, sealing key and bucket; its own data dir (and so
    // its own log), flushing only when asked to stop.
    let (_dir_b, data_b) = tally_testkit::process::data_dir();
    let key_file = instance.data_dir.join("secret.key");
    let node_b_env = |flush: &'static str| {
        let mut env = instance.env();
        env.extend([
            ("TALLY_NODE_ID", "node-b"),
            ("TALLY_SECRETS_KEY_FILE", key_file.to_str().unwrap()),
            ("TALLY_INGEST_FLUSH_SECONDS", flush),
        ]);
        env
    };
    let mut node_b =
        tally_testkit::TallyProcess::serve(crate::support::binary(), &data_b, &args, &node_b_env("3600")).await;
    let acme = tenant(&instance, &node_a, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;

    let base = now_s();
    let rows = |who: &str, count: i64| -> Vec<Value> {
        (0..count)
            .map(|n| {
                json!({ "event": "Played", "properties": {
                "time": base - n, "distinct_id": format!("{who}{}", n % 5), "$insert_id": format!("{who}-{n}") } })
            })
            .collect()
    };
    // Shared state: node A learns that device d9 is user u9 and gets u9's profile; node B
    // gets d9's anonymous events, of an event name only it has seen.
    let mut on_a = rows("a", 100);
    on_a.push(json!({ "event": "Signed In", "properties": { "time": base, "distinct_id": "u9",
        "$device_id": "d9", "$user_id": "u9", "$insert_id": "signed-in" } }));
    let mut on_b = rows("b", 60);
    on_b.extend((0..3).map(|n| {
        json!({ "event": "Paused", "properties": { "time": base - 10 - n,
        "distinct_id": "$device:d9", "$device_id": "d9", "$insert_id": format!("paused-{n}") } })
    }));
    assert_eq!(import_rows(node_a.base_url(), &project, &on_a).await.status(), StatusCode::OK);
    assert_eq!(import_rows(node_b.base_url(), &project, &on_b).await.status(), StatusCode::OK);
    crate::ingest::update_profiles(
        node_a.base_url(),
        &json!([{ "$token": project.token, "$distinct_id": "u9", "$set": { "plan": "pro" } }]),
    )
    .await;
    // Each wait below has 30 s of its own.
    let soon = || std::time::Instant::now() + std::time::Duration::from_secs(30);
    let deadline = soon();
    while files_of(&s3, "node-a").await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "node A did not flush within 30 s");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Each node reads every node's flushed files, and its own events still in memory.
    assert_eq!(export(node_a.base_url(), &project, "").await.len(), 101, "node B's events are not flushed yet");
    assert_eq!(export(node_b.base_url(), &project, "").await.len(), 164);

    // A person deleted on node A while their events wait unflushed on node B: node B drops
    // them when it applies the deletion (here, as it starts again), so no file holds them.
    let deletions = format!("/api/app/projects/{}/data-deletions", project.id);
    let asked = acme.owner.post(&deletions, json!({ "distinct_ids": ["b1"] })).await;
    assert_eq!(asked.status, StatusCode::CREATED, "{asked:?}");
    let task = asked.results()["task_id"].as_str().unwrap().to_string();
    crate::privacy::wait_for(&acme.owner, &format!("{deletions}/{task}"), "SUCCESS").await;
    let b1_events = 60 / 5;

    // Node B dies with its events only in its log. Meanwhile a crash of each node left an
    // uncatalogued file behind.
    node_b.kill().await;
    let a_files = files_of(&s3, "node-a").await;
    let folder = a_files[0].rsplit_once('/').unwrap().0.to_string();
    let a_leftover = format!("{folder}/flush-node-a_00000000000000000999-0.parquet");
    let b_leftover = format!("{folder}/flush-node-b_00000000000000000999-0.parquet");
    s3.put(&a_leftover, b"left by a crash of node A").await;
    s3.put(&b_leftover, b"left by a crash of node B").await;

    // Restarted, node B replays its own log, sweeps only its own leftovers and flushes.
    let node_b = tally_testkit::TallyProcess::serve(crate::support::binary(), &data_b, &args, &node_b_env("1")).await;
    let keys = s3.keys("").await;
    assert!(keys.contains(&a_leftover), "node B never deletes node A's files: {keys:?}");
    assert!(!keys.contains(&b_leftover), "node B sweeps its own: {keys:?}");
    assert!(a_files.iter().all(|key| keys.contains(key)), "every file of node A is still there");
    let deadline = soon();
    while files_of(&s3, "node-b").await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "node B did not flush within 30 s");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    for node in [&node_a, &node_b] {
        let all = export(node.base_url(), &project, "").await;
        assert_eq!(all.len(), 164 - b1_events, "no acknowledged event lost, none twice, none deleted");
        assert!(all.iter().all(|event| event["properties"]["distinct_id"] != "b1"));
    }

    // Each node reads what the other published at its flush: node B counts d9's events as
    // u9's (node A's identity map) and lists u9's profile (set on node A); node A knows the
    // event name only node B received.
    let u9 = "&where=properties%5B%22distinct_id%22%5D%20%3D%3D%20%22u9%22";
    for node in [&node_a, &node_b] {
        let mut found = export(node.base_url(), &project, u9).await;
        let deadline = soon();
        while found.len() < 4 {
            assert!(std::time::Instant::now() < deadline, "d9's events never became u9's: {found:?}");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            found = export(node.base_url(), &project, u9).await;
        }
        assert_eq!(found.len(), 4, "{found:?}");
    }
    let profiles = crate::ingest::engage(node_b.base_url(), &project, &format!("project_id={}", project.id)).await;
    let u9_profile = profiles["results"].as_array().unwrap().iter().find(|row| row["$distinct_id"] == "u9");
    assert_eq!(u9_profile.map(|row| row["$properties"]["plan"].clone()), Some(json!("pro")), "{profiles}");
    let project_id = project.id.to_string();
    let names_path = "/api/query/events/names";
    let names_on_a = || async {
        let query = [("project_id", project_id.as_str()), ("type", "general")];
        crate::query_api::get(node_a.base_url(), &project, names_path, &query).await.1.to_string()
    };
    // Node B publishes its state just after its files are catalogued: node A may read it a
    // moment later.
    let mut names = names_on_a().await;
    let deadline = soon();
    while !(names.contains("Paused") && names.contains("Signed In")) {
        assert!(std::time::Instant::now() < deadline, "node A never learned node B's event names: {names}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        names = names_on_a().await;
    }
    assert!(s3.keys("events/nodes/").await.iter().any(|key| key == "events/nodes/node-a/derived.json"));

    // A kept answer on node A over closed days drops when node B flushes events of those
    // days.
    let today = tally_types::Clock::now(&tally_types::SystemClock).to_zoned(jiff::tz::TimeZone::UTC).date();
    let day = |back: i64| today.checked_sub(jiff::Span::new().days(back)).unwrap().to_string();
    let report = json!({ "type": "insights", "range": { "from_date": day(7), "to_date": day(1) },
        "unit": "day", "metrics": [{ "event": "Late", "measure": { "kind": "total" } }] });
    let path = format!("/api/app/projects/{}/query", project.id);
    let total = |answer: &tally_testkit::api::Reply| answer.results()["series"][0]["total"].as_f64();
    assert_eq!(total(&acme.owner.post(&path, report.clone()).await), Some(0.0));
    let kept = acme.owner.post(&path, report.clone()).await;
    assert_eq!(kept.results()["from_cache"], true, "{:?}", kept.body);
    let late: Vec<Value> = (0..5)
        .map(|n| {
            json!({ "event": "Late", "properties": { "time": base - 3 * 86_400 - n, "distinct_id": "late",
            "$insert_id": format!("late-{n}") } })
        })
        .collect();
    assert_eq!(import_rows(node_b.base_url(), &project, &late).await.status(), StatusCode::OK);
    let mut answer = acme.owner.post(&path, report.clone()).await;
    let deadline = soon();
    while total(&answer) != Some(5.0) {
        assert!(
            std::time::Instant::now() < deadline,
            "node A kept the answer from before node B's flush: {:?}",
            answer.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        answer = acme.owner.post(&path, report.clone()).await;
    }
    assert_eq!(answer.results()["from_cache"], false);
}
