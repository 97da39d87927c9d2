//! GDPR and CCPA requests over HTTP: a deletion removes a person's events (under every id
//! merged with the one asked for) and profile from every file, memory, the log, every
//! query and the export, also when the server is killed (SIGKILL) while it runs, and leaves
//! everyone else's data as it was; a retrieval hands over everything stored of a person.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tally_testkit::api::Api;

use crate::access::world::tenant;
use crate::ingest::{Project, production};
use crate::support::Instance;

/// The person to forget: their user id and the device they used before signing in.
const USER: &str = "forget-me-7f3";
const DEVICE: &str = "forget-dev-7f3";

fn event(name: &str, distinct_id: &str, extra: Value, day: i64, n: usize) -> Value {
    let now = tally_types::Clock::now(&tally_types::SystemClock).as_second();
    let key: String = distinct_id.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let mut properties = json!({ "time": now - day * 86_400 - 600, "distinct_id": distinct_id,
        "$insert_id": format!("{name}-{key}-{day}-{n}").replace(' ', ""), "$lib": "test-lib" });
    for (key, value) in extra.as_object().into_iter().flatten() {
        properties[key] = value.clone();
    }
    json!({ "event": name, "properties": properties })
}

async fn import(server: &str, project: &Project, rows: &[Value]) {
    let reply = tally_testkit::http_client(None)
        .post(format!("{server}/import?strict=1"))
        .basic_auth(&project.secret, Some(""))
        .json(&rows)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK, "{}", reply.text().await.unwrap_or_default());
}

/// Events over 20 days: the person (as a device, then identified), and two others.
fn rows(round: usize) -> Vec<Value> {
    let mut rows = Vec::new();
    for day in 0..20 {
        rows.push(event("Page View", &format!("$device:{DEVICE}"), json!({ "$device_id": DEVICE }), day, round));
        rows.push(event("Purchase", USER, json!({ "amount": 5 }), day, round));
        rows.push(event("Page View", "keep-a", json!({}), day, round));
        rows.push(event("Purchase", "keep-b", json!({ "amount": 7 }), day, round));
    }
    rows.push(event("Log In", USER, json!({ "$device_id": DEVICE, "$user_id": USER }), 0, round));
    rows
}

async fn export(server: &str, project: &Project) -> String {
    let today = tally_types::Clock::now(&tally_types::SystemClock).to_zoned(jiff::tz::TimeZone::UTC).date();
    let from = today.checked_sub(jiff::Span::new().days(30)).unwrap();
    let reply = tally_testkit::http_client(None)
        .get(format!("{server}/api/2.0/export?from_date={from}&to_date={today}"))
        .basic_auth(&project.secret, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    reply.text().await.unwrap()
}

/// How many rows of the Parquet files under `root` mention `marker` (read by DuckDB).
fn parquet_rows_with(python: &str, root: &Path, marker: &str) -> u64 {
    let script = r#"
import duckdb, glob, sys
root, marker = sys.argv[1], sys.argv[2]
total = 0
for path in glob.glob(root + "/**/*.parquet", recursive=True):
    total += duckdb.sql(f"SELECT count(*) FROM read_parquet('{path}') t WHERE t::VARCHAR LIKE '%{marker}%'").fetchone()[0]
print(total)
"#;
    let output = std::process::Command::new(python)
        .args(["-c", script, &root.display().to_string(), marker])
        .output()
        .expect("run python");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().parse().unwrap()
}

/// Whether any log segment under `root` holds `marker`.
fn log_holds(root: &Path, marker: &str) -> bool {
    file_holds(root, marker, &|path| path.components().any(|part| part.as_os_str() == "wal"))
}

/// Whether a snapshot (identities and lexicon) under `root` holds `marker`.
fn snapshot_holds(root: &Path, marker: &str) -> bool {
    file_holds(root, marker, &|path| path.file_name().is_some_and(|name| name == "snapshot.json"))
}

/// Whether any file under `root` that `wanted` picks holds `marker`.
fn file_holds(root: &Path, marker: &str, wanted: &dyn Fn(&Path) -> bool) -> bool {
    let Ok(entries) = std::fs::read_dir(root) else { return false };
    entries.flatten().any(|entry| {
        let path = entry.path();
        if path.is_dir() {
            return file_holds(&path, marker, wanted);
        }
        wanted(&path)
            && std::fs::read(&path).is_ok_and(|bytes| bytes.windows(marker.len()).any(|w| w == marker.as_bytes()))
    })
}

pub(crate) async fn wait_for(api: &Api, path: &str, wanted: &str) -> Value {
    for _ in 0..600 {
        let reply = api.get(path).await;
        if reply.results()["status"] == wanted {
            return reply.results().clone();
        }
        assert!(!matches!(reply.results()["status"].as_str(), Some("FAILURE" | "REVOKED")), "{path}: {reply:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} never reached {wanted}");
}

#[tokio::test]
async fn a_deletion_forgets_a_person_everywhere_even_across_a_kill() {
    let Some(python) = tally_testkit::python() else { return };
    let instance = Instance::new(tally_testkit::TestBackend::Sqlite).await;
    let mut server = instance.serve().await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let base = format!("/api/app/projects/{}", project.id);

    // The first round goes to files (a clean stop flushes), the second stays in memory and
    // the log.
    import(server.base_url(), &project, &rows(1)).await;
    let profiles = json!([
        { "$token": project.token, "$distinct_id": USER, "$set": { "$email": "forget@example.com" } },
        { "$token": project.token, "$distinct_id": "keep-a", "$set": { "$email": "a@example.com" } },
    ]);
    let engage = |server: String| {
        let profiles = profiles.clone();
        async move {
            let reply = tally_testkit::http_client(None).post(format!("{server}/engage")).json(&profiles).send().await;
            assert_eq!(reply.unwrap().text().await.unwrap(), "1");
        }
    };
    engage(server.base_url().to_string()).await;
    server.terminate();
    server.wait(Duration::from_secs(30)).await;
    let mut server = instance.serve().await;
    let owner = Api::sign_in(server.base_url(), "owner@acme.example", tally_testkit::api::PASSWORD).await;
    import(server.base_url(), &project, &rows(2)).await;
    assert!(parquet_rows_with(&python, &instance.data_dir, DEVICE) > 0, "the person is in the files");
    assert!(snapshot_holds(&instance.data_dir, DEVICE), "and the identity map");
    assert!(log_holds(&instance.data_dir, USER), "and in the log");
    let before = export(server.base_url(), &project).await;
    let others_before: Vec<&str> = before.lines().filter(|line| !line.contains("forget-")).collect();
    assert_eq!(before.lines().count(), 2 * 81, "{before}");

    // Only those who may handle privacy requests ask; bad requests say what to fix.
    let (analyst, _) = owner
        .invite_and_accept(
            acme.org_id,
            "analyst@acme.example",
            "member",
            json!([{ "id": project.id, "role": "analyst" }]),
        )
        .await;
    let refused = analyst.post(&format!("{base}/data-deletions"), json!({ "distinct_ids": [USER] })).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let empty = owner.post(&format!("{base}/data-deletions"), json!({ "distinct_ids": [] })).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST, "{empty:?}");
    let wrong = owner
        .post(&format!("{base}/data-deletions"), json!({ "distinct_ids": [USER], "compliance_type": "HIPAA" }))
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);

    // A retrieval first: everything stored of the person, by the id they signed in with.
    let asked = owner.post(&format!("{base}/data-retrievals"), json!({ "distinct_ids": [USER] })).await;
    assert_eq!(asked.status, StatusCode::CREATED, "{asked:?}");
    let retrieval = asked.results()["task_id"].as_str().unwrap().to_string();
    let done = wait_for(&owner, &format!("{base}/data-retrievals/{retrieval}"), "SUCCESS").await;
    let url = done["result"].as_str().unwrap();
    assert!(url.ends_with(&format!("/data-retrievals/{retrieval}/download")), "{done}");
    let document = owner.get(&format!("{base}/data-retrievals/{retrieval}/download")).await;
    let events = document.body["results"]["events"].as_array().unwrap();
    assert_eq!(events.len(), 2 * 41, "the device's events are the person's too");
    assert!(events.iter().all(|event| event.to_string().contains("forget-")));
    assert_eq!(document.body["results"]["profiles"][0]["$properties"]["$email"], "forget@example.com");

    // The deletion, killed while it runs, then finished by the next start.
    let asked = owner
        .post(&format!("{base}/data-deletions"), json!({ "distinct_ids": [USER], "compliance_type": "GDPR" }))
        .await;
    assert_eq!(asked.status, StatusCode::CREATED, "{asked:?}");
    let deletion = asked.results()["task_id"].as_str().unwrap().to_string();
    let status_path = format!("{base}/data-deletions/{deletion}");
    let mut seen = Value::Null;
    for _ in 0..400 {
        seen = owner.get(&status_path).await.results()["status"].clone();
        if seen != "PENDING" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill().await;
    assert_eq!(seen, "STARTED", "killed while the deletion ran (it rewrites some 20 files)");
    let server = instance.serve().await;
    let owner = Api::sign_in(server.base_url(), "owner@acme.example", tally_testkit::api::PASSWORD).await;
    let finished = wait_for(&owner, &status_path, "SUCCESS").await;
    assert_eq!(finished["requesting_user"], "owner@acme.example");
    assert_eq!(finished["distinct_ids"], json!([USER]));
    let cancel = owner.delete(&status_path).await;
    assert_eq!(cancel.status, StatusCode::CONFLICT, "a finished deletion cannot be cancelled: {cancel:?}");

    // Gone from the export, every file, profiles and reports; everyone else untouched.
    let after = export(server.base_url(), &project).await;
    assert!(!after.contains("forget-"), "{after}");
    assert_eq!(after.lines().collect::<Vec<_>>(), others_before, "the others' events are as they were");
    assert_eq!(parquet_rows_with(&python, &instance.data_dir, USER), 0);
    assert_eq!(parquet_rows_with(&python, &instance.data_dir, DEVICE), 0);
    assert!(parquet_rows_with(&python, &instance.data_dir, "keep-b") > 0);
    let users = owner.get(&format!("{base}/users")).await;
    assert!(!users.body.to_string().contains("forget"), "{users:?}");
    assert!(users.body.to_string().contains("a@example.com"));
    let today = tally_types::Clock::now(&tally_types::SystemClock).to_zoned(jiff::tz::TimeZone::UTC).date();
    let range = json!({ "from_date": today.checked_sub(jiff::Span::new().days(25)).unwrap().to_string(), "to_date": today.to_string() });
    let purchases = owner
        .post(
            &format!("{base}/query"),
            json!({ "type": "insights", "range": range,
            "metrics": [{ "event": "Purchase", "measure": { "kind": "unique" } }] }),
        )
        .await;
    assert_eq!(purchases.results()["series"][0]["total"], 1.0, "keep-b alone: {purchases:?}");

    // The log, after the next flush, holds none of it either.
    import(server.base_url(), &project, &[event("Page View", "keep-a", json!({}), 0, 99)]).await;
    for _ in 0..100 {
        if !log_holds(&instance.data_dir, USER) && !log_holds(&instance.data_dir, DEVICE) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!log_holds(&instance.data_dir, USER) && !log_holds(&instance.data_dir, DEVICE));
    // Nor the identity map: the device no longer leads to the person.
    assert!(!snapshot_holds(&instance.data_dir, DEVICE), "the snapshot still maps the device");
    assert!(snapshot_holds(&instance.data_dir, "Page View"), "the lexicon stays");

    // The audit log names the request and its completion.
    let audit = owner.get(&format!("/api/app/organizations/{}/audit-log", acme.org_id)).await;
    let text = audit.body.to_string();
    assert!(text.contains("privacy.deletion_requested") && text.contains("privacy.deletion_completed"), "{text}");
}
