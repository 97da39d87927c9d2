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
    let event_files =
        || async { s3.keys("prod/us/").await.into_iter().filter(|key| key.ends_with(".parquet")).collect::<Vec<_>>() };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while event_files().await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "no flush into the bucket within 30 s");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let flushed = event_files().await;
    assert!(flushed.iter().all(|key| key.starts_with(&format!("prod/us/project={}/day=", project.id))), "{flushed:?}");
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
