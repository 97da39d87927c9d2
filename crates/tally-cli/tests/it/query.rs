//! Answers out: reports over HTTP compared with the same questions answered independently by
//! DuckDB over the raw export (`tests/peers/query_oracle.py`, written from
//! report-semantics.md), on a seeded data set loaded through `/import` with identity merges
//! after the events, duplicates across a flush and the memory buffer, equal timestamps and a
//! non-UTC project.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tally_testkit::TestBackend;

use crate::access::world::tenant;
use crate::ingest::{Project, production};
use crate::support::Instance;

pub(crate) const ZONE: &str = "America/New_York";

/// Today in [`ZONE`], the project's zone in the tests over [`data_set`].
pub(crate) fn today_in_zone() -> jiff::civil::Date {
    let zone = jiff::tz::TimeZone::get(ZONE).unwrap();
    tally_types::Clock::now(&tally_types::SystemClock).to_zoned(zone).date()
}

/// A small deterministic generator (xorshift64*), so the data set is the same on every run.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The events of the data set (as `/import` rows) split in the two loads: the second holds
/// the merges (after the events they merge) and re-sent copies of some of the first.
pub(crate) fn data_set(first_day: jiff::civil::Date, days: i64) -> (Vec<Value>, Vec<Value>) {
    let zone = jiff::tz::TimeZone::get(ZONE).unwrap();
    let mut rng = Seeded(0x7a11_7e57);
    let mut first = Vec::new();
    let mut second = Vec::new();
    let plans = ["free", "free", "free", "pro", "pro", "team", "enterprise"];
    let browsers = ["Chrome", "Firefox", "Safari"];
    let mut n = 0u64;
    for user in 0..160u64 {
        // A third of the users browse on a device first and are merged into their user id
        // later (Simplified ID Merge): their earlier events count as the user's.
        let device = user % 3 == 0;
        let mut merged_at: i64 = 0;
        let sessions = 1 + rng.below(5);
        for _ in 0..sessions {
            let day = first_day.checked_add(jiff::Span::new().days(rng.below(days as u64) as i64)).unwrap();
            let start = day
                .at(rng.below(24) as i8, rng.below(60) as i8, rng.below(60) as i8, 0)
                .to_zoned(zone.clone())
                .unwrap()
                .timestamp()
                .as_second();
            let id = if device { format!("$device:d{user}") } else { format!("u{user}") };
            let mut row = |name: &str, time: i64, extra: Value, rng: &mut Seeded| {
                n += 1;
                let mut properties = json!({
                    "time": time, "distinct_id": id, "$insert_id": format!("e{n}"),
                    "$browser": browsers[rng.below(3) as usize],
                });
                if device {
                    properties["$device_id"] = json!(format!("d{user}"));
                }
                for (key, value) in extra.as_object().unwrap() {
                    properties[key] = value.clone();
                }
                let event = json!({ "event": name, "properties": properties });
                if rng.below(10) < 6 { first.push(event) } else { second.push(event) }
            };
            let views = 1 + rng.below(3);
            for view in 0..views {
                row("Page View", start + view as i64 * 30, json!({}), &mut rng);
            }
            if rng.below(2) == 0 {
                // Sometimes at the very second of the first page view.
                let at = if rng.below(5) == 0 { start } else { start + 100 };
                row("Sign Up", at, json!({}), &mut rng);
            }
            if rng.below(3) == 0 {
                // Up to 30 hours later: across local midnights and the 1-day window.
                let at = start + 200 + rng.below(30 * 3600) as i64;
                let mut extra = json!({});
                match rng.below(10) {
                    0 => {}
                    1 => extra["amount"] = json!(format!("{}.5", rng.below(90))),
                    2 => extra["amount"] = json!("n/a"),
                    _ => extra["amount"] = json!(rng.below(20_000) as f64 / 100.0),
                }
                if rng.below(8) != 0 {
                    extra["plan"] = json!(plans[rng.below(plans.len() as u64) as usize]);
                }
                row("Purchase", at, extra, &mut rng);
            }
            merged_at = merged_at.max(start + 40 * 3600);
        }
        if device {
            n += 1;
            second.push(json!({ "event": "Log In", "properties": {
                "time": merged_at, "distinct_id": format!("u{user}"), "$insert_id": format!("e{n}"),
                "$user_id": format!("u{user}"), "$device_id": format!("d{user}") } }));
        }
    }
    // An SDK retrying: every fifth event of the first load again, with the same key.
    let again: Vec<Value> = first.iter().step_by(5).cloned().collect();
    second.extend(again);
    (first, second)
}

pub(crate) async fn import(server: &str, project: &Project, rows: &[Value]) {
    for chunk in rows.chunks(2000) {
        let reply = tally_testkit::http_client(None)
            .post(format!("{server}/import?strict=1"))
            .basic_auth(&project.secret, Some(""))
            .json(chunk)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::OK, "{}", reply.text().await.unwrap());
    }
}

/// What the small report tests start from: a server with one organization and its
/// production project, the path its reports are asked at, and today (UTC).
struct Small {
    _instance: Instance,
    server: tally_testkit::process::TallyProcess,
    acme: crate::access::world::Tenant,
    project: Project,
    path: String,
    today: jiff::civil::Date,
}

async fn small() -> Small {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let server = instance.serve().await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let path = format!("/api/app/projects/{}/query", project.id);
    let today = tally_types::Clock::now(&tally_types::SystemClock).to_zoned(jiff::tz::TimeZone::UTC).date();
    Small { _instance: instance, server, acme, project, path, today }
}

fn parquet_files(dir: &std::path::Path) -> usize {
    let mut found = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found += parquet_files(&path);
        } else if path.extension().is_some_and(|extension| extension == "parquet") {
            found += 1;
        }
    }
    found
}

/// Runs the oracle over the export.
fn oracle(python: &str, export: &std::path::Path, from: &str, to: &str, questions: Value) -> Value {
    oracle_with_profiles(python, export, &json!({}), from, to, questions)
}

/// Runs the oracle over the export and the users' profiles (canonical id to properties).
fn oracle_with_profiles(
    python: &str,
    export: &std::path::Path,
    profiles: &Value,
    from: &str,
    to: &str,
    questions: Value,
) -> Value {
    use std::io::Write;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/query_oracle.py");
    let request = json!({ "events": export, "profiles": profiles, "time_zone": ZONE, "from_date": from,
        "to_date": to, "questions": questions });
    let mut child = std::process::Command::new(python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(request.to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "oracle: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Tally's series values by bucket label, for the series of `metric` (and `segment`).
fn by_label(answer: &Value, metric: usize) -> BTreeMap<String, Option<f64>> {
    let buckets = answer["buckets"].as_array().unwrap();
    let series = answer["series"].as_array().unwrap().iter().find(|series| series["metric"] == metric).unwrap();
    buckets
        .iter()
        .zip(series["values"].as_array().unwrap())
        .map(|(label, value)| (label.as_str().unwrap().to_string(), value.as_f64()))
        .collect()
}

/// Compares Tally's per-bucket values with the oracle's (a bucket the oracle does not list
/// is 0 for counts and sums, empty for averages and percentiles).
fn same_days(what: &str, tally: &BTreeMap<String, Option<f64>>, oracle: &Value, empty: Option<f64>) {
    let oracle = oracle.as_object().unwrap();
    for (label, value) in tally {
        let expected = oracle.get(label).and_then(Value::as_f64).or(empty);
        match (value, expected) {
            (Some(value), Some(expected)) => {
                assert!(close(*value, expected), "{what} on {label}: tally {value}, duckdb {expected}")
            }
            (None, None) => {}
            _ => panic!("{what} on {label}: tally {value:?}, duckdb {expected:?}"),
        }
    }
    for label in oracle.keys() {
        assert!(tally.contains_key(label), "{what}: duckdb has {label}, tally has no such bucket");
    }
}

#[tokio::test]
async fn reports_match_an_independent_duckdb_oracle_over_the_export() {
    let Some(python) = tally_testkit::python() else { return };
    let instance = Instance::new(TestBackend::Sqlite).await;
    let server = instance.serve_with(&[], &[("TALLY_INGEST_FLUSH_SECONDS", "1")]).await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let path = format!("/api/app/projects/{}", project.id);
    acme.owner.patch(&path, json!({ "timezone": ZONE })).await.results();

    let today = today_in_zone();
    let day = |back: i64| today.checked_sub(jiff::Span::new().days(back)).unwrap();
    // Sessions end four days ago: merges come up to 40 hours after a session, and /import
    // refuses events more than an hour in the future whatever the time of day.
    let (first, second) = data_set(day(14), 11);
    import(server.base_url(), &project, &first).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while parquet_files(&instance.data_dir) == 0 {
        assert!(std::time::Instant::now() < deadline, "no flush within 30 s");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The project's frequent custom property `plan` (on most purchases, always text) has a
    // column of its own in the flushed files, so the reports below read it from there for
    // those events and from the JSON column for the events still in memory.
    {
        use sqlx::{Connection, Row};
        let url = format!("sqlite://{}", instance.data_dir.join("tally.db").display());
        let mut catalog = sqlx::SqliteConnection::connect(&url).await.unwrap();
        // The files are on disk a moment before the flush catalogues them.
        let columns: Vec<String> = loop {
            let columns: Vec<String> = sqlx::query("SELECT columns FROM event_files WHERE project_id = $1")
                .bind(project.id)
                .fetch_all(&mut catalog)
                .await
                .unwrap()
                .iter()
                .map(|row| row.get::<String, _>("columns"))
                .collect();
            if !columns.is_empty() || std::time::Instant::now() > deadline {
                break columns;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        assert!(columns.iter().any(|list| list.contains("\"plan\"")), "{columns:?}");
    }
    // The second load stays in memory while the reports run (duplicates of flushed events
    // among it): the next flush is a second away, so both are read together either way.
    import(server.base_url(), &project, &second).await;

    let (from, to) = (day(10).to_string(), day(2).to_string());
    let range = json!({ "from_date": from, "to_date": to });
    let query = |report: Value| {
        let owner = &acme.owner;
        let path = format!("{path}/query");
        async move {
            let reply = owner.post(&path, report).await;
            reply.results().clone()
        }
    };
    let insights = query(json!({ "type": "insights", "range": range, "unit": "day", "metrics": [
        { "event": "Page View", "measure": { "kind": "total" } },
        { "event": "Page View", "measure": { "kind": "unique" } },
        { "event": "Page View", "measure": { "kind": "per_user", "aggregate": "average" } },
        { "event": "Purchase", "measure": { "kind": "property", "property": "amount", "aggregate": "sum" } },
        { "event": "Purchase", "measure": { "kind": "property", "property": "amount", "aggregate": "p90" } },
        { "event": "Purchase", "filters": [{ "property": "amount", "operator": "greater_than", "value": 50 }],
          "measure": { "kind": "total" } },
    ] }))
    .await;
    assert_eq!(insights["type"], "insights");
    assert_eq!(insights["range"]["time_zone"], ZONE);
    assert_eq!(insights["from_cache"], false);
    let breakdown = query(json!({ "type": "insights", "range": range, "unit": "week",
        "metrics": [{ "event": "Purchase", "measure": { "kind": "unique" } }],
        "breakdown": { "property": "plan", "limit": 2 } }))
    .await;
    let funnel = query(json!({ "type": "funnels", "range": range, "window_seconds": 86_400, "steps": [
        { "event": "Page View" }, { "event": "Sign Up" }, { "event": "Purchase" } ] }))
    .await;
    let steps = json!([{ "event": "Page View" }, { "event": "Sign Up" }, { "event": "Purchase" }]);
    let exclusions = json!([{ "event": "Page View", "after": 1, "before": 2 }]);
    let funnel_excluded = query(json!({ "type": "funnels", "range": range, "window_seconds": 86_400, "steps": steps,
        "exclusions": exclusions }))
    .await;
    let funnel_totals = query(json!({ "type": "funnels", "range": range, "window_seconds": 86_400, "steps": steps,
        "counting": "totals" }))
    .await;
    let funnel_totals_excluded = query(json!({ "type": "funnels", "range": range, "window_seconds": 86_400,
        "steps": steps, "counting": "totals", "exclusions": exclusions }))
    .await;
    let variant = |extra: Value| {
        let mut report = json!({ "type": "funnels", "range": range, "window_seconds": 86_400, "steps": steps });
        for (key, value) in extra.as_object().unwrap() {
            report[key] = value.clone();
        }
        query(report)
    };
    let funnel_sessions = variant(json!({ "counting": "sessions" })).await;
    let funnel_held = variant(json!({ "hold_constant": ["$browser"] })).await;
    let funnel_optimized = variant(json!({ "optimized_reentry": true })).await;
    let funnel_by_browser =
        variant(json!({ "breakdown": { "property": "$browser" }, "attribution": { "step": 1 } })).await;
    let funnel_by_plan =
        variant(json!({ "counting": "totals", "breakdown": { "property": "plan" }, "attribution": "last_defined" }))
            .await;
    let retention = |criterion: &'static str| {
        query(json!({ "type": "retention", "range": range, "unit": "day", "buckets": 5, "criterion": criterion,
            "born": { "event": "Sign Up" }, "return": { "event": "Page View" } }))
    };
    let (retention_on, retention_after) = (retention("on").await, retention("on_or_after").await);
    let recurring = query(json!({ "type": "retention", "range": range, "unit": "day", "buckets": 5,
        "criterion": "on", "kind": "recurring", "born": { "event": "Page View" }, "return": { "event": "Page View" } }))
    .await;
    let brackets = query(json!({ "type": "retention", "range": range, "unit": "day", "brackets": [1, 2, 4, 7],
        "criterion": "on", "born": { "event": "Page View" }, "return": { "event": "Page View" } }))
    .await;
    let flows = query(json!({ "type": "flows", "range": range, "anchor": { "event": "Sign Up" }, "steps_before": 2,
        "steps_after": 3, "window_seconds": 86_400, "top_events": 50 }))
    .await;

    // The same questions, answered by DuckDB over what the export says is stored.
    let export = tally_testkit::http_client(None)
        .get(format!("{}/api/2.0/export?from_date={}&to_date={}&time_in_ms=true", server.base_url(), day(14), today))
        .basic_auth(&project.secret, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), StatusCode::OK);
    let exported = export.text().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.jsonl");
    std::fs::write(&file, &exported).unwrap();
    let merged =
        exported.lines().filter(|line| line.contains("\"Page View\"") && line.contains("\"$device_id\"")).count();
    assert!(merged > 0 && !exported.contains("\"distinct_id\":\"$device:"), "every device was merged into its user");
    let answers = oracle(
        &python,
        &file,
        &from,
        &to,
        json!([
            { "id": "total", "kind": "daily", "event": "Page View", "measure": "total" },
            { "id": "unique", "kind": "daily", "event": "Page View", "measure": "unique" },
            { "id": "per_user", "kind": "per_user_average", "event": "Page View" },
            { "id": "amount", "kind": "property", "event": "Purchase" },
            { "id": "over_50", "kind": "daily", "event": "Purchase", "measure": "total", "amount_over": 50 },
            { "id": "plans", "kind": "breakdown_unique", "event": "Purchase", "limit": 2 },
            { "id": "funnel", "kind": "funnel", "steps": ["Page View", "Sign Up", "Purchase"], "window_ms": 86_400_000 },
            { "id": "wau", "kind": "active", "event": "Page View", "days": 7 },
            { "id": "funnel_uniques", "kind": "funnel_attempts", "steps": ["Page View", "Sign Up", "Purchase"],
              "window_ms": 86_400_000 },
            { "id": "funnel_excluded", "kind": "funnel_attempts", "steps": ["Page View", "Sign Up", "Purchase"],
              "window_ms": 86_400_000, "exclusions": [{ "event": "Page View", "after": 1, "before": 2 }] },
            { "id": "funnel_totals", "kind": "funnel_attempts", "steps": ["Page View", "Sign Up", "Purchase"],
              "window_ms": 86_400_000, "counting": "totals" },
            { "id": "funnel_totals_excluded", "kind": "funnel_attempts", "steps": ["Page View", "Sign Up", "Purchase"],
              "window_ms": 86_400_000, "counting": "totals", "exclusions": [{ "event": "Page View", "after": 1, "before": 2 }] },
            { "id": "funnel_sessions", "kind": "funnel_attempts", "steps": ["Page View", "Sign Up", "Purchase"],
              "window_ms": 86_400_000, "counting": "sessions" },
            { "id": "funnel_held", "kind": "funnel_attempts", "steps": ["Page View", "Sign Up", "Purchase"],
              "window_ms": 86_400_000, "hold": "$browser" },
            { "id": "funnel_optimized", "kind": "funnel_attempts", "steps": ["Page View", "Sign Up", "Purchase"],
              "window_ms": 86_400_000, "optimized": true },
            { "id": "funnel_by_browser", "kind": "funnel_attempts", "steps": ["Page View", "Sign Up", "Purchase"],
              "window_ms": 86_400_000, "breakdown": "$browser", "attribution": 1 },
            { "id": "funnel_by_plan", "kind": "funnel_attempts", "steps": ["Page View", "Sign Up", "Purchase"],
              "window_ms": 86_400_000, "counting": "totals", "breakdown": "plan", "attribution": "last_defined" },
            { "id": "retention_on", "kind": "retention", "born": "Sign Up", "return": "Page View",
              "unit_ms": 86_400_000, "buckets": 5, "criterion": "on" },
            { "id": "retention_after", "kind": "retention", "born": "Sign Up", "return": "Page View",
              "unit_ms": 86_400_000, "buckets": 5, "criterion": "on_or_after" },
            { "id": "brackets", "kind": "retention", "born": "Page View", "return": "Page View",
              "unit_ms": 86_400_000, "buckets": 3, "brackets": [1, 2, 4, 7], "criterion": "on" },
            { "id": "recurring", "kind": "retention", "born": "Page View", "return": "Page View",
              "unit_ms": 86_400_000, "buckets": 5, "criterion": "on", "recurring": true },
            { "id": "flows", "kind": "flows", "anchor": "Sign Up", "before": 2, "after": 3, "window_ms": 86_400_000 },
        ]),
    );

    let result = &insights;
    same_days("total page views", &by_label(result, 0), &answers["total"]["days"], Some(0.0));
    same_days("unique viewers", &by_label(result, 1), &answers["unique"]["days"], Some(0.0));
    same_days("page views per user", &by_label(result, 2), &answers["per_user"]["days"], None);
    same_days("amount sum", &by_label(result, 3), &answers["amount"]["sum"], Some(0.0));
    same_days("amount p90", &by_label(result, 4), &answers["amount"]["p90"], None);
    same_days("purchases over 50", &by_label(result, 5), &answers["over_50"]["days"], Some(0.0));
    derived_views_match_the_oracle(&query, &range, &answers, &python, &file, (day(19), day(11))).await;
    // Active users: DAU is the daily uniques; WAU counts each user once in the seven days
    // ending on each day (looking back before the range); over the range, the last day's.
    let active = query(json!({ "type": "insights", "range": range, "unit": "day", "metrics": [
        { "event": "Page View", "measure": { "kind": "active", "days": 1 } },
        { "event": "Page View", "measure": { "kind": "active", "days": 7 } },
    ] }))
    .await;
    same_days("daily active users", &by_label(&active, 0), &answers["unique"]["days"], Some(0.0));
    same_days("weekly active users", &by_label(&active, 1), &answers["wau"], Some(0.0));
    let wau = by_label(&active, 1);
    assert_eq!(active["series"][1]["total"].as_f64(), *wau.values().last().unwrap(), "{active}");
    assert!(wau.values().flatten().zip(by_label(&active, 0).values().flatten()).any(|(week, day)| week > day));
    let series = result["series"].as_array().unwrap();
    assert_eq!(
        series[1]["total"].as_f64(),
        answers["unique"]["total"].as_f64(),
        "uniques over the range, counted once"
    );
    let summed: f64 = series[1]["values"].as_array().unwrap().iter().filter_map(Value::as_f64).sum();
    assert!(summed > series[1]["total"].as_f64().unwrap(), "some users came back on other days");
    assert!(answers["total"]["total"].as_f64().unwrap() > 200.0, "a data set worth comparing: {answers}");

    let segments: BTreeMap<String, f64> = breakdown["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|series| (series["segment"].as_str().unwrap().to_string(), series["total"].as_f64().unwrap()))
        .collect();
    let expected: BTreeMap<String, f64> = answers["plans"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(key, value)| (key.clone(), value.as_f64().unwrap()))
        .collect();
    assert_eq!(segments, expected, "top two plans and $other, by unique buyers");
    assert!(segments.contains_key("$other"));

    let steps: Vec<u64> =
        funnel["steps"].as_array().unwrap().iter().map(|step| step["count"].as_u64().unwrap()).collect();
    let expected: Vec<u64> =
        answers["funnel"].as_array().unwrap().iter().map(|count| count.as_u64().unwrap()).collect();
    assert_eq!(steps, expected, "funnel steps: tally {funnel}");
    assert!(expected[2] > 0 && expected[2] < expected[1] && expected[1] < expected[0], "{expected:?}");
    assert_eq!(answers["funnel_uniques"]["counts"], answers["funnel"], "the two oracles agree");
    same_funnel("uniques", &funnel, &answers["funnel_uniques"]);
    same_funnel(
        "uniques, excluding page views between sign-up and purchase",
        &funnel_excluded,
        &answers["funnel_excluded"],
    );
    same_funnel("totals", &funnel_totals, &answers["funnel_totals"]);
    same_funnel("totals with the exclusion", &funnel_totals_excluded, &answers["funnel_totals_excluded"]);
    let entered = |answer: &Value| answer["counts"][0].as_u64().unwrap();
    assert!(entered(&answers["funnel_totals"]) > entered(&answers["funnel_uniques"]), "users enter again: {answers}");
    let converted = |answer: &Value| answer["counts"][2].as_u64().unwrap();
    assert!(
        converted(&answers["funnel_excluded"]) < converted(&answers["funnel_uniques"]),
        "the exclusion ends attempts"
    );
    assert!(converted(&answers["funnel_totals_excluded"]) < converted(&answers["funnel_totals"]));
    same_funnel("sessions", &funnel_sessions, &answers["funnel_sessions"]);
    same_funnel("holding the browser constant", &funnel_held, &answers["funnel_held"]);
    same_funnel("optimized re-entry", &funnel_optimized, &answers["funnel_optimized"]);
    same_funnel("uniques broken down by the sign-up's browser", &funnel_by_browser, &answers["funnel_by_browser"]);
    same_funnel("totals broken down by the last plan set", &funnel_by_plan, &answers["funnel_by_plan"]);
    assert!(
        converted(&answers["funnel_sessions"]) < converted(&answers["funnel_totals"]),
        "purchases in a later session do not convert a session: {answers}"
    );
    assert!(entered(&answers["funnel_sessions"]) > entered(&answers["funnel_uniques"]), "one attempt per session");
    assert!(
        converted(&answers["funnel_held"]) < converted(&answers["funnel_uniques"]),
        "browsers change between steps"
    );
    assert!(
        converted(&answers["funnel_optimized"]) > converted(&answers["funnel_uniques"]),
        "a later attempt converts where the first did not"
    );
    for (what, answer, expected) in [
        ("by browser", &funnel_by_browser, &answers["funnel_by_browser"]),
        ("by plan", &funnel_by_plan, &answers["funnel_by_plan"]),
    ] {
        let shown: BTreeMap<String, Value> = answer["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|segment| (segment["segment"].as_str().unwrap().to_string(), segment["counts"].clone()))
            .collect();
        let wanted: BTreeMap<String, Value> =
            expected["segments"].as_object().unwrap().iter().map(|(key, value)| (key.clone(), value.clone())).collect();
        assert_eq!(shown, wanted, "{what}: the steps' counts per segment");
        assert!(shown.len() >= 3, "{what}: {shown:?}");
    }
    let segment_entries = |answer: &Value| -> u64 {
        answer["segments"].as_array().unwrap().iter().map(|segment| segment["counts"][0].as_u64().unwrap()).sum()
    };
    assert!(
        segment_entries(&funnel_by_browser) > entered(&answers["funnel_uniques"]),
        "a user enters again under another segment after exiting"
    );

    for (answer, expected) in
        [(&retention_on, &answers["retention_on"]), (&retention_after, &answers["retention_after"])]
    {
        let mut born = 0;
        for row in answer["rows"].as_array().unwrap() {
            let cohort = row["cohort"].as_str().unwrap();
            let empty = json!({ "first": 0, "counts": [0, 0, 0, 0, 0, 0] });
            let want = expected.get(cohort).unwrap_or(&empty);
            assert_eq!(row["first"], want["first"], "cohort {cohort}: {answer}");
            assert_eq!(row["counts"], want["counts"], "cohort {cohort} ({}): {answer}", answer["criterion"]);
            born += row["first"].as_u64().unwrap();
        }
        assert!(born > 20, "{answer}");
        // The average row: cohorts whose bucket has ended (their day's end plus N + 1 days
        // before now), weighted by size: rate Σ(C·P)/Σ(P²), count Σ(C·P)/ΣP (§3).
        let now_ms = tally_types::Clock::now(&tally_types::SystemClock).as_millisecond();
        let mut averaged = 0;
        for bucket in 0..6usize {
            let (mut weighted, mut squares, mut sizes, mut cohorts) = (0f64, 0f64, 0f64, 0u64);
            for (cohort, want) in expected.as_object().unwrap() {
                let size = want["first"].as_f64().unwrap();
                let day: jiff::civil::Date = cohort.parse().unwrap();
                let zone = jiff::tz::TimeZone::get(ZONE).unwrap();
                let end = day.tomorrow().unwrap().to_zoned(zone).unwrap().timestamp().as_millisecond();
                if size == 0.0 || end + (bucket as i64 + 1) * 86_400_000 > now_ms {
                    continue;
                }
                weighted += want["counts"][bucket].as_f64().unwrap() * size;
                squares += size * size;
                sizes += size;
                cohorts += 1;
            }
            let shown = &answer["average"][bucket];
            if cohorts == 0 {
                assert!(shown.is_null(), "bucket {bucket}: no cohort has ended, {shown}");
                continue;
            }
            averaged += 1;
            assert_eq!(shown["cohorts"].as_u64(), Some(cohorts), "bucket {bucket}: {shown}");
            assert!(close(shown["rate"].as_f64().unwrap(), weighted / squares), "bucket {bucket} rate: {shown}");
            assert!(close(shown["count"].as_f64().unwrap(), weighted / sizes), "bucket {bucket} count: {shown}");
        }
        assert_eq!(averaged, 6, "the range ends two days ago, so every bucket has ended for some cohort");
    }

    // Recurring: a user is in every day's row they viewed a page on.
    let mut rows_born = 0;
    for row in recurring["rows"].as_array().unwrap() {
        let cohort = row["cohort"].as_str().unwrap();
        let empty = json!({ "first": 0, "counts": [0, 0, 0, 0, 0, 0] });
        let want = answers["recurring"].get(cohort).unwrap_or(&empty);
        assert_eq!(row["first"], want["first"], "recurring cohort {cohort}");
        assert_eq!(row["counts"], want["counts"], "recurring cohort {cohort}");
        rows_born += row["first"].as_u64().unwrap();
    }
    let viewers = answers["unique"]["total"].as_u64().unwrap();
    assert!(rows_born > viewers, "some users are in several rows: {rows_born} births of {viewers} viewers");

    // Custom brackets: <1 day, 1-2, 2-4 and 4-7 days after the birth.
    assert_eq!(brackets["brackets"], json!([1, 2, 4, 7]));
    let mut returned = 0;
    for row in brackets["rows"].as_array().unwrap() {
        let cohort = row["cohort"].as_str().unwrap();
        let empty = json!({ "first": 0, "counts": [0, 0, 0, 0] });
        let want = answers["brackets"].get(cohort).unwrap_or(&empty);
        assert_eq!(row["first"], want["first"], "bracketed cohort {cohort}");
        assert_eq!(row["counts"], want["counts"], "bracketed cohort {cohort}");
        returned += row["counts"][2].as_u64().unwrap() + row["counts"][3].as_u64().unwrap();
    }
    assert!(returned > 0, "returns in the joined days: {brackets}");

    // Flows: users per (step, event) and per path after the anchor.
    let expected = &answers["flows"];
    assert_eq!(flows["users"], expected["users"], "{flows}");
    let mut nodes = 0;
    for step in flows["steps"].as_array().unwrap() {
        let key = step["step"].to_string();
        let shown: BTreeMap<String, u64> = step["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|node| (node["event"].as_str().unwrap().to_string(), node["users"].as_u64().unwrap()))
            .collect();
        let wanted: BTreeMap<String, u64> = expected["nodes"]
            .get(&key)
            .and_then(Value::as_object)
            .map(|nodes| nodes.iter().map(|(name, users)| (name.clone(), users.as_u64().unwrap())).collect())
            .unwrap_or_default();
        assert_eq!(shown, wanted, "flow step {key}");
        nodes += shown.len();
    }
    assert!(nodes > 6, "{flows}");
    for path in flows["paths"].as_array().unwrap() {
        let key = serde_json::to_string(&path["events"]).unwrap().replace(',', ", ");
        assert_eq!(path["users"], expected["paths"][&key], "path {key}: {}", expected["paths"]);
    }

    // Once compaction has merged the partitions (one copy of each event per file, read
    // without the deduplicating window), every answer is the same.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !compacted(&instance.data_dir) {
        assert!(std::time::Instant::now() < deadline, "no compaction within 60 s");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let again = query(json!({ "type": "insights", "range": range, "unit": "day", "metrics": [
        { "event": "Page View", "measure": { "kind": "total" } },
        { "event": "Page View", "measure": { "kind": "unique" } },
    ] }))
    .await;
    same_days("total page views after compaction", &by_label(&again, 0), &answers["total"]["days"], Some(0.0));
    same_days("unique viewers after compaction", &by_label(&again, 1), &answers["unique"]["days"], Some(0.0));
    let funnel_again = query(json!({ "type": "funnels", "range": range, "window_seconds": 86_400, "steps": [
        { "event": "Page View" }, { "event": "Sign Up" }, { "event": "Purchase" } ] }))
    .await;
    assert_eq!(funnel_again["steps"], funnel["steps"], "the funnel after compaction");
}

/// A funnel answer against the oracle's attempt-by-attempt count: every step, the entries
/// and conversions of each day, the time to convert (in Tally's histogram buckets) and the
/// users at each step (Tally lists the first hundred by id).
fn same_funnel(what: &str, tally: &Value, oracle: &Value) {
    let counts: Vec<u64> =
        tally["steps"].as_array().unwrap().iter().map(|step| step["count"].as_u64().unwrap()).collect();
    let expected: Vec<u64> = oracle["counts"].as_array().unwrap().iter().map(|n| n.as_u64().unwrap()).collect();
    assert_eq!(counts, expected, "{what}: steps");
    let days = oracle["days"].as_object().unwrap();
    let mut entries = 0;
    for period in tally["over_time"].as_array().unwrap() {
        let want = days.get(period["bucket"].as_str().unwrap());
        let field = |name: &str| want.map_or(0, |want| want[name].as_u64().unwrap());
        assert_eq!(period["entered"].as_u64(), Some(field("entered")), "{what}: entries on {}", period["bucket"]);
        assert_eq!(
            period["converted"].as_u64(),
            Some(field("converted")),
            "{what}: conversions on {}",
            period["bucket"]
        );
        entries += period["entered"].as_u64().unwrap();
    }
    assert_eq!(entries, expected[0], "{what}: every entry falls in a day of the range");
    let buckets = tally["time_to_convert"].as_array().unwrap();
    let mut histogram = vec![0u64; buckets.len()];
    for seconds in oracle["ttc_seconds"].as_array().unwrap() {
        let seconds = seconds.as_i64().unwrap();
        let bucket = buckets.iter().rposition(|bucket| seconds >= bucket["from_seconds"].as_i64().unwrap()).unwrap();
        histogram[bucket] += 1;
    }
    let shown: Vec<u64> = buckets.iter().map(|bucket| bucket["count"].as_u64().unwrap()).collect();
    assert_eq!(shown, histogram, "{what}: time to convert");
    assert_eq!(shown.iter().sum::<u64>(), expected[2], "{what}: every conversion has a time");
    for (index, step) in tally["steps"].as_array().unwrap().iter().enumerate() {
        let mut want: Vec<&str> =
            oracle["users"][index].as_array().unwrap().iter().map(|user| user.as_str().unwrap()).collect();
        want.sort_unstable();
        want.truncate(100);
        let shown: Vec<&str> = step["users"].as_array().unwrap().iter().map(|user| user.as_str().unwrap()).collect();
        assert_eq!(shown, want, "{what}: users at step {index}");
    }
}

/// Formulas, the cumulative and rolling views and the compared period, each checked against
/// values derived from the oracle's daily answers (and the oracle asked again for the
/// period before).
async fn derived_views_match_the_oracle<F, Fut>(
    query: &F,
    range: &Value,
    answers: &Value,
    python: &str,
    export: &std::path::Path,
    (before_from, before_to): (jiff::civil::Date, jiff::civil::Date),
) where
    F: Fn(Value) -> Fut,
    Fut: std::future::Future<Output = Value>,
{
    let metrics = json!([
        { "event": "Page View", "measure": { "kind": "total" } },
        { "event": "Page View", "measure": { "kind": "unique" } },
    ]);
    let answer = query(json!({ "type": "insights", "range": range, "unit": "day", "metrics": metrics, "compare": true,
        "formulas": [{ "expression": "A / B", "label": "views per viewer" }, { "expression": " (A - B) * 2 " }] }))
    .await;
    let oracle_days = |answers: &Value, id: &str| -> BTreeMap<String, f64> {
        answers[id]["days"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(day, value)| (day.clone(), value.as_f64().unwrap()))
            .collect()
    };
    let (totals, uniques) = (oracle_days(answers, "total"), oracle_days(answers, "unique"));
    let formula = |answer: &Value, position: u64| -> (BTreeMap<String, Option<f64>>, Value) {
        let series =
            answer["series"].as_array().unwrap().iter().find(|series| series["formula"] == position).unwrap().clone();
        let values = answer["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .zip(series["values"].as_array().unwrap())
            .map(|(label, value)| (label.as_str().unwrap().to_string(), value.as_f64()))
            .collect();
        (values, series)
    };
    let (ratio, ratio_series) = formula(&answer, 0);
    assert_eq!(ratio_series["label"], "views per viewer");
    let mut days_with_views = 0;
    for (day, value) in &ratio {
        let (total, unique) = (totals.get(day).copied().unwrap_or(0.0), uniques.get(day).copied().unwrap_or(0.0));
        if unique == 0.0 {
            assert_eq!(*value, None, "A / B on {day} divides by zero");
        } else {
            days_with_views += 1;
            assert!(close(value.unwrap(), total / unique), "A / B on {day}: {value:?}, oracle {total} / {unique}");
        }
    }
    assert!(days_with_views >= 5, "{answer}");
    let (_, doubled) = formula(&answer, 1);
    assert_eq!(doubled["label"], "(A - B) * 2");
    let expected = (answers["total"]["total"].as_f64().unwrap() - answers["unique"]["total"].as_f64().unwrap()) * 2.0;
    assert!(close(doubled["total"].as_f64().unwrap(), expected), "{doubled}: expected {expected}");

    // The period before: as many days, ending the day before the range starts.
    let previous = &answer["previous"];
    assert_eq!(previous["from_date"], before_from.to_string(), "{previous}");
    assert_eq!(previous["to_date"], before_to.to_string());
    let earlier = oracle(
        python,
        export,
        &before_from.to_string(),
        &before_to.to_string(),
        json!([{ "id": "total", "kind": "daily", "event": "Page View", "measure": "total" }]),
    );
    assert!(earlier["total"]["total"].as_f64().unwrap() > 0.0, "the period before holds events: {earlier}");
    same_days("page views the period before", &by_label(previous, 0), &earlier["total"]["days"], Some(0.0));
    assert_eq!(previous["series"].as_array().unwrap().len(), 4, "both metrics and both formulas: {previous}");

    // Cumulative: a running sum; rolling: the mean of the last three days.
    let days: Vec<String> = by_label(&answer, 0).into_keys().collect();
    let daily: Vec<f64> = days.iter().map(|day| totals.get(day).copied().unwrap_or(0.0)).collect();
    for (view, expected) in [
        (
            json!({ "kind": "cumulative" }),
            daily
                .iter()
                .scan(0.0, |sum, value| {
                    *sum += value;
                    Some(*sum)
                })
                .collect::<Vec<f64>>(),
        ),
        (
            json!({ "kind": "rolling", "window": 3 }),
            (0..daily.len())
                .map(|end| {
                    let window = &daily[end.saturating_sub(2)..=end];
                    window.iter().sum::<f64>() / window.len() as f64
                })
                .collect(),
        ),
    ] {
        let viewed =
            query(json!({ "type": "insights", "range": range, "unit": "day", "metrics": metrics, "view": view })).await;
        let shown = by_label(&viewed, 0);
        for ((day, value), wanted) in shown.iter().zip(&expected) {
            assert!(close(value.unwrap(), *wanted), "{view} on {day}: {value:?}, expected {wanted}");
        }
        assert_eq!(
            viewed["series"][0]["total"].as_f64(),
            answers["total"]["total"].as_f64(),
            "the range's value is not changed by {view}"
        );
    }
}

/// Profiles for the data set's users, sent through `/engage`: a quarter of the users have
/// none; some device users have one under their device id only, some a stale one there and
/// the real one under their user id. Returns the updates and each user's profile as it
/// ends (canonical id to properties), which the oracle joins.
pub(crate) fn profiles_of(token: &str) -> (Vec<Value>, Value) {
    let tiers = ["gold", "silver", "bronze"];
    let mut updates = Vec::new();
    let mut expected = serde_json::Map::new();
    for user in 0..160u64 {
        if user % 4 == 3 {
            continue;
        }
        let properties = json!({ "tier": tiers[(user % 7 % 3) as usize], "age": 18 + user % 50 });
        let set = |key: String, properties: Value| json!({ "$token": token, "$distinct_id": key, "$set": properties });
        let device = user % 3 == 0;
        if device && user % 2 == 0 {
            updates.push(set(format!("$device:d{user}"), json!({ "tier": "stale", "age": 1 })));
            updates.push(set(format!("u{user}"), properties.clone()));
        } else if device {
            updates.push(set(format!("$device:d{user}"), properties.clone()));
        } else {
            updates.push(set(format!("u{user}"), properties.clone()));
        }
        expected.insert(format!("u{user}"), properties);
    }
    (updates, Value::Object(expected))
}

/// Profile properties filter and segment reports, joined in their latest state on the
/// canonical user (report-semantics.md, "Profile properties"), checked against the oracle.
#[tokio::test]
async fn profile_properties_filter_and_segment_reports() {
    let Some(python) = tally_testkit::python() else { return };
    let instance = Instance::new(TestBackend::Sqlite).await;
    let server = instance.serve().await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let path = format!("/api/app/projects/{}", project.id);
    acme.owner.patch(&path, json!({ "timezone": ZONE })).await.results();
    let today = today_in_zone();
    let day = |back: i64| today.checked_sub(jiff::Span::new().days(back)).unwrap();
    let (first, second) = data_set(day(14), 11);
    import(server.base_url(), &project, &first).await;
    import(server.base_url(), &project, &second).await;
    let (updates, profiles) = profiles_of(&project.token);
    let reply = tally_testkit::http_client(None)
        .post(format!("{}/engage?verbose=1", server.base_url()))
        .json(&updates)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    assert_eq!(reply.json::<Value>().await.unwrap()["status"], 1);

    let (from, to) = (day(10).to_string(), day(2).to_string());
    let range = json!({ "from_date": from, "to_date": to });
    let query = |report: Value| {
        let owner = &acme.owner;
        let path = format!("{path}/query");
        async move { owner.post(&path, report).await.results().clone() }
    };
    let gold = json!({ "property": "tier", "source": "user", "operator": "equals", "value": ["gold"] });
    let filtered = query(json!({ "type": "insights", "range": range, "unit": "day", "metrics": [
        { "event": "Page View", "measure": { "kind": "total" }, "filters": [gold] },
        { "event": "Page View", "measure": { "kind": "unique" },
          "filters": [{ "property": "age", "source": "user", "operator": "greater_than", "value": 40 }] },
    ] }))
    .await;
    let by_tier = query(json!({ "type": "insights", "range": range, "unit": "week",
        "metrics": [{ "event": "Page View", "measure": { "kind": "unique" } }],
        "breakdown": { "property": "tier", "source": "user", "limit": 2 } }))
    .await;
    let steps = json!([{ "event": "Page View" }, { "event": "Sign Up" }, { "event": "Purchase" }]);
    let funnel = query(json!({ "type": "funnels", "range": range, "window_seconds": 86_400, "steps": steps,
        "filters": [gold] }))
    .await;

    let export = tally_testkit::http_client(None)
        .get(format!("{}/api/2.0/export?from_date={}&to_date={}&time_in_ms=true", server.base_url(), day(14), today))
        .basic_auth(&project.secret, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), StatusCode::OK);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.jsonl");
    std::fs::write(&file, export.text().await.unwrap()).unwrap();
    let answers = oracle_with_profiles(
        &python,
        &file,
        &profiles,
        &from,
        &to,
        json!([
            { "id": "gold", "kind": "daily", "event": "Page View", "measure": "total", "tier": "gold" },
            { "id": "over_40", "kind": "daily", "event": "Page View", "measure": "unique", "age_over": 40 },
            { "id": "all", "kind": "daily", "event": "Page View", "measure": "total" },
            { "id": "tiers", "kind": "breakdown_unique", "event": "Page View", "limit": 2, "by": "tier" },
            { "id": "funnel", "kind": "funnel", "steps": ["Page View", "Sign Up", "Purchase"],
              "window_ms": 86_400_000, "tier": "gold" },
        ]),
    );
    same_days("gold users' page views", &by_label(&filtered, 0), &answers["gold"]["days"], Some(0.0));
    same_days("viewers over 40", &by_label(&filtered, 1), &answers["over_40"]["days"], Some(0.0));
    let gold_total = answers["gold"]["total"].as_f64().unwrap();
    assert!(gold_total > 0.0 && gold_total < answers["all"]["total"].as_f64().unwrap(), "{answers}");
    assert_eq!(filtered["series"][0]["total"].as_f64(), Some(gold_total));

    let segments: BTreeMap<String, f64> = by_tier["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|series| (series["segment"].as_str().unwrap().to_string(), series["total"].as_f64().unwrap()))
        .collect();
    let expected: BTreeMap<String, f64> = answers["tiers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(key, value)| (key.clone(), value.as_f64().unwrap()))
        .collect();
    assert_eq!(segments, expected, "top two tiers and $other, by unique viewers");
    assert!(!segments.contains_key("stale"), "a device's stale profile lost to the user's own: {segments:?}");

    let counts: Vec<u64> =
        funnel["steps"].as_array().unwrap().iter().map(|step| step["count"].as_u64().unwrap()).collect();
    let expected: Vec<u64> = answers["funnel"].as_array().unwrap().iter().map(|n| n.as_u64().unwrap()).collect();
    assert_eq!(counts, expected, "gold users' funnel: {funnel}");
    assert!(expected[0] > 0, "{expected:?}");

    // The Query API reads `user["..."]` in `where` and `on` the same way.
    let segmentation = |params: &str| {
        let url = format!(
            "{}/api/query/segmentation?project_id={}&event=Page%20View&from_date={from}&to_date={to}&type=general&{params}",
            server.base_url(),
            project.id
        );
        let secret = project.secret.clone();
        async move {
            let reply = tally_testkit::http_client(None).get(url).basic_auth(&secret, Some("")).send().await.unwrap();
            assert_eq!(reply.status(), StatusCode::OK);
            reply.json::<Value>().await.unwrap()
        }
    };
    let where_gold = segmentation("where=user%5B%22tier%22%5D%20%3D%3D%20%22gold%22").await;
    let summed: f64 =
        where_gold["data"]["values"]["Page View"].as_object().unwrap().values().filter_map(Value::as_f64).sum();
    assert_eq!(summed, gold_total, "{where_gold}");
    let on_tier = segmentation("on=user%5B%22tier%22%5D").await;
    let gold_series: f64 =
        on_tier["data"]["values"]["gold"].as_object().unwrap().values().filter_map(Value::as_f64).sum();
    assert_eq!(gold_series, gold_total, "{on_tier}");
}

fn compacted(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|entry| {
        let path = entry.path();
        if path.is_dir() {
            compacted(&path)
        } else {
            path.file_name().and_then(|name| name.to_str()).is_some_and(|name| name.starts_with("compact-"))
        }
    })
}

#[tokio::test]
async fn reports_need_view_reports_and_bad_reports_say_what_to_fix() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let server = instance.serve().await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let gamma = tenant(&instance, &server, "owner@gamma.example", "Gamma").await;
    let project = acme.projects[0];
    let path = format!("/api/app/projects/{project}/query");
    let report = json!({ "type": "insights", "range": { "from_date": "2026-01-01", "to_date": "2026-01-07" },
        "metrics": [{ "event": "Page View" }] });

    // An empty project answers zeros for every bucket.
    let answer = acme.owner.post(&path, report.clone()).await;
    let results = answer.results();
    assert_eq!(results["buckets"].as_array().unwrap().len(), 7);
    assert_eq!(results["series"][0]["values"], json!([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]));

    // Another organization's project is not found, and nothing about it is told.
    let outsider = gamma.owner.post(&path, report.clone()).await;
    assert_eq!(outsider.status, StatusCode::NOT_FOUND, "{outsider:?}");

    for (bad, fragment) in [
        (
            json!({ "type": "insights", "range": { "from_date": "2026-01-07", "to_date": "2026-01-01" }, "metrics": [{ "event": "x" }] }),
            "before",
        ),
        (
            json!({ "type": "insights", "range": { "from_date": "2026-01-01", "to_date": "2026-01-07" }, "metrics": [] }),
            "at least one metric",
        ),
        (
            json!({ "type": "funnels", "range": { "from_date": "2026-01-01", "to_date": "2026-01-07" }, "steps": [{ "event": "x" }] }),
            "2 to 30 steps",
        ),
        (
            json!({ "type": "funnels", "range": { "from_date": "2026-01-01", "to_date": "2026-01-07" }, "window_seconds": 0,
            "steps": [{ "event": "x" }, { "event": "y" }] }),
            "conversion window",
        ),
        (
            json!({ "type": "insights", "range": { "from_date": "2016-01-01", "to_date": "2026-01-07" }, "unit": "minute",
            "metrics": [{ "event": "x" }] }),
            "larger unit",
        ),
        (json!({ "type": "sql", "query": "SELECT 1" }), "type"),
        (
            json!({ "type": "insights", "range": { "from_date": "2026-01-01", "to_date": "2026-01-07" },
            "metrics": [{ "event": "x" }], "formulas": [{ "expression": "A / * 2" }] }),
            "at character 5",
        ),
        (
            json!({ "type": "insights", "range": { "from_date": "2026-01-01", "to_date": "2026-01-07" },
            "metrics": [{ "event": "x" }], "formulas": [{ "expression": "A + B" }] }),
            "uses metric B",
        ),
        (
            json!({ "type": "insights", "range": { "from_date": "2026-01-01", "to_date": "2026-01-07" },
            "metrics": [{ "event": "x" }], "view": { "kind": "rolling", "window": 0 } }),
            "rolling window",
        ),
        (
            json!({ "type": "funnels", "range": { "from_date": "2026-01-01", "to_date": "2026-01-07" },
            "steps": [{ "event": "x" }, { "event": "y" }], "exclusions": [{ "event": "z", "after": 1, "before": 2 }] }),
            "between two steps",
        ),
        (
            json!({ "type": "funnels", "range": { "from_date": "2026-01-01", "to_date": "2026-01-07" }, "order": "any_order",
            "steps": [{ "event": "x" }, { "event": "y" }], "exclusions": [{ "event": "z", "after": 0, "before": 1 }] }),
            "in order",
        ),
    ] {
        let reply = acme.owner.post(&path, bad.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}: {reply:?}");
        let message = reply.body["error"].as_str().unwrap_or_default();
        assert!(message.contains(fragment), "{bad}: {message}");
    }
}

#[tokio::test]
async fn the_query_benchmark_runs_and_agrees_with_duckdb() {
    let Some(python) = tally_testkit::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/bench_query.py");
    let output = tally_testkit::process::run_command(
        crate::support::binary(),
        &[
            "bench",
            "query",
            "--events",
            "6000",
            "--runs",
            "1",
            "--python",
            &python,
            "--script",
            script.to_str().unwrap(),
            "--dir",
            dir.path().to_str().unwrap(),
            "--cluster",
        ],
        &[],
        None,
    )
    .await;
    assert!(output.status.success(), "{}\n{}", output.stdout, output.stderr);
    // The same questions through a scheduler and two executors, with the same answers.
    let clustered: Vec<&str> = output.stdout.lines().filter(|line| line.ends_with("same answer")).collect();
    assert_eq!(clustered.len(), 4, "{}", output.stdout);
    let answers = |label: &str| -> Value {
        let line =
            output.stdout.lines().find(|line| line.starts_with(label)).unwrap_or_else(|| panic!("{}", output.stdout));
        serde_json::from_str(&line[label.len()..]).unwrap()
    };
    let (tally, duckdb) = (answers("tally's answers: "), answers("duckdb's answers: "));
    for key in ["filtered_count", "uniques_first_day"] {
        assert_eq!(tally[key].as_f64(), duckdb[key].as_f64(), "{key}: {}", output.stdout);
    }
    assert_eq!(tally["funnel"], duckdb["funnel"], "{}", output.stdout);
    assert!(tally["funnel"][0].as_u64().unwrap() > 0, "{}", output.stdout);
    let bytes = output.stdout.lines().find(|line| line.starts_with("on disk:")).unwrap();
    assert!(bytes.contains("bytes per event"), "{bytes}");
    for label in ["filtered count", "daily uniques", "3-step funnel, 1 day", "retention, 10 days"] {
        assert!(output.stdout.lines().any(|line| line.starts_with(label)), "{label}: {}", output.stdout);
    }
}

/// A reserved property (`$browser`) is read from its typed column alone while the project
/// has only ever sent it as text, and from the JSON column too once it sends another kind:
/// a breakdown shows every value either way.
#[tokio::test]
async fn a_reserved_property_sent_as_a_number_still_counts() {
    let Small { _instance, server, acme, project, path, today } = small().await;
    let time = today.to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp().as_second() + 1;
    let row = |n: u32, browser: Value| {
        json!({ "event": "Play", "properties": { "time": time, "distinct_id": format!("u{n}"),
            "$insert_id": format!("p{n}"), "$browser": browser } })
    };
    let report = json!({ "type": "insights", "range": { "from_date": today.to_string(), "to_date": today.to_string() },
        "metrics": [{ "event": "Play" }], "breakdown": { "property": "$browser" } });
    let segments = |answer: Value| -> BTreeMap<String, f64> {
        answer["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|series| (series["segment"].as_str().unwrap().to_string(), series["total"].as_f64().unwrap()))
            .collect()
    };
    import(server.base_url(), &project, &[row(1, json!("Chrome")), row(2, json!("Chrome")), row(3, json!("Firefox"))])
        .await;
    let text_only = segments(acme.owner.post(&path, report.clone()).await.results().clone());
    assert_eq!(text_only, BTreeMap::from([("Chrome".to_string(), 2.0), ("Firefox".to_string(), 1.0)]));
    import(server.base_url(), &project, &[row(4, json!(7)), row(5, json!(true))]).await;
    let mixed = segments(acme.owner.post(&path, report).await.results().clone());
    assert_eq!(
        mixed,
        BTreeMap::from([
            ("Chrome".to_string(), 2.0),
            ("Firefox".to_string(), 1.0),
            ("7".to_string(), 1.0),
            ("true".to_string(), 1.0)
        ]),
        "values sent as other kinds live in the JSON column and are read from it"
    );
}

/// A query past the configured time limit is stopped and says so; the server stays up.
#[tokio::test]
async fn a_query_past_its_time_limit_is_stopped_with_a_clear_error() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let server = instance.serve_with(&[], &[("TALLY_QUERY_TIME_LIMIT_MS", "1")]).await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let today = today_in_zone();
    let day = |back: i64| today.checked_sub(jiff::Span::new().days(back)).unwrap();
    let (first, _) = data_set(day(14), 11);
    import(server.base_url(), &project, &first).await;
    let report = json!({ "type": "funnels", "range": { "from_date": day(14).to_string(), "to_date": day(2).to_string() },
        "steps": [{ "event": "Page View" }, { "event": "Sign Up" }, { "event": "Purchase" }] });
    let path = format!("/api/app/projects/{}/query", project.id);
    let reply = acme.owner.post(&path, report).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{reply:?}");
    assert_eq!(reply.code(), "query_timed_out");
    assert!(reply.body["error"].as_str().unwrap().contains("limit of 1 ms"), "{reply:?}");
    assert_eq!(acme.owner.get(&format!("/api/app/projects/{}", project.id)).await.status, StatusCode::OK);
}

/// A breakdown by a list property counts an event once under each of its elements (an
/// empty list, or no value, under "(not set)"); uniques count each user once per element.
#[tokio::test]
async fn a_list_property_breaks_down_by_each_element() {
    let Small { _instance, server, acme, project, path, today } = small().await;
    let time = today.to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp().as_second() + 1;
    let row = |n: u32, user: &str, genres: Value| {
        json!({ "event": "Play", "properties": { "time": time, "distinct_id": user, "$insert_id": format!("g{n}"),
            "genres": genres } })
    };
    import(
        server.base_url(),
        &project,
        &[
            row(1, "u1", json!(["jazz", "rock"])),
            row(2, "u1", json!(["rock"])),
            row(3, "u2", json!("jazz")),
            row(4, "u2", json!([])),
            row(5, "u3", json!([1, true])),
        ],
    )
    .await;
    let segments = |measure: &str| {
        let report = json!({ "type": "insights", "range": { "from_date": today.to_string(), "to_date": today.to_string() },
            "metrics": [{ "event": "Play", "measure": { "kind": measure } }], "breakdown": { "property": "genres" } });
        let owner = acme.owner.clone();
        let path = path.clone();
        async move {
            let answer = owner.post(&path, report).await;
            answer.results()["series"]
                .as_array()
                .unwrap()
                .iter()
                .map(|series| (series["segment"].as_str().unwrap().to_string(), series["total"].as_f64().unwrap()))
                .collect::<BTreeMap<String, f64>>()
        }
    };
    let expected = |jazz: f64, rock: f64| {
        BTreeMap::from([
            ("jazz".to_string(), jazz),
            ("rock".to_string(), rock),
            ("(not set)".to_string(), 1.0),
            ("1".to_string(), 1.0),
            ("true".to_string(), 1.0),
        ])
    };
    assert_eq!(segments("total").await, expected(2.0, 2.0));
    assert_eq!(segments("unique").await, expected(2.0, 1.0), "u1 once under rock");
}

/// Retention broken down by a property of each user's first birth event: one table per
/// segment, largest first, whose counts add up to the whole table's.
#[tokio::test]
async fn retention_breaks_down_by_the_birth_events_property() {
    let Small { _instance, server, acme, project, path, today } = small().await;
    let born = today.checked_sub(jiff::Span::new().days(2)).unwrap();
    let at = |date: jiff::civil::Date, hour: i8| {
        date.at(hour, 0, 0, 0).to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp().as_second()
    };
    let event = |n: u32, name: &str, user: &str, time: i64, plan: Value| json!({ "event": name, "properties": { "time": time, "distinct_id": user, "$insert_id": format!("r{n}"), "plan": plan } });
    let next = today.yesterday().unwrap();
    import(
        server.base_url(),
        &project,
        &[
            event(1, "Sign Up", "u1", at(born, 1), json!("pro")),
            event(2, "Sign Up", "u1", at(born, 3), json!("free")),
            event(3, "Sign Up", "u2", at(born, 1), json!("free")),
            event(4, "Sign Up", "u3", at(born, 1), json!("pro")),
            event(5, "Sign Up", "u4", at(born, 1), Value::Null),
            event(6, "Open", "u1", at(next, 2), json!("pro")),
            event(7, "Open", "u2", at(next, 4), json!("free")),
        ],
    )
    .await;
    let report = json!({ "type": "retention", "range": { "from_date": born.to_string(), "to_date": today.to_string() },
        "unit": "day", "buckets": 2, "born": { "event": "Sign Up" }, "return": { "event": "Open" },
        "breakdown": { "property": "plan" } });
    let answer = acme.owner.post(&path, report).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let results = answer.results();
    let segments = results["segments"].as_array().unwrap();
    let names: Vec<&str> = segments.iter().map(|segment| segment["segment"].as_str().unwrap()).collect();
    assert_eq!(names, ["pro", "(not set)", "free"], "u1's first birth says pro; largest first, then by name");
    let pro = &segments[0]["total"];
    assert_eq!(pro["first"], 2);
    assert_eq!(pro["counts"][1], 1, "u1 came back the next day: {results}");
    let free = &segments[2]["total"];
    assert_eq!((free["first"].as_u64(), free["counts"][1].as_u64()), (Some(1), Some(1)));
    for bucket in 0..3 {
        let sum: u64 = segments.iter().map(|segment| segment["total"]["counts"][bucket].as_u64().unwrap()).sum();
        assert_eq!(sum, results["total"]["counts"][bucket].as_u64().unwrap(), "bucket {bucket}");
    }
    let bad = acme
        .owner
        .post(&path, json!({ "type": "retention", "range": { "from_date": born.to_string(), "to_date": today.to_string() },
            "born": { "event": "Sign Up" }, "return": { "event": "Open" }, "breakdown": { "expression": "properties[\"plan\"]" } }))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{bad:?}");
}

/// A funnel broken down by a property of each user's first entry (first touch): the steps'
/// counts per segment, largest first, adding up to the whole funnel's.
#[tokio::test]
async fn a_funnel_breaks_down_by_the_first_entrys_property() {
    let Small { _instance, server, acme, project, path, today } = small().await;
    let day = today.yesterday().unwrap();
    let at = |hour: i8| day.at(hour, 0, 0, 0).to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp().as_second();
    let event = |n: u32, name: &str, user: &str, hour: i8, source: &str| {
        json!({ "event": name, "properties": { "time": at(hour), "distinct_id": user, "$insert_id": format!("f{n}"),
            "utm_source": source } })
    };
    import(
        server.base_url(),
        &project,
        &[
            event(1, "Visit", "u1", 1, "ads"),
            event(2, "Visit", "u1", 2, "mail"),
            event(3, "Buy", "u1", 3, "mail"),
            event(4, "Visit", "u2", 1, "mail"),
            event(5, "Visit", "u3", 1, "ads"),
            event(6, "Buy", "u4", 1, "ads"),
        ],
    )
    .await;
    let report = json!({ "type": "funnels", "range": { "from_date": day.to_string(), "to_date": today.to_string() },
        "window_seconds": 86_400, "steps": [{ "event": "Visit" }, { "event": "Buy" }],
        "breakdown": { "property": "utm_source" } });
    let answer = acme.owner.post(&path, report.clone()).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let segments = answer.results()["segments"].clone();
    assert_eq!(
        segments,
        json!([
            { "segment": "ads", "counts": [2, 1], "overall_conversion": 0.5 },
            { "segment": "mail", "counts": [1, 0], "overall_conversion": 0.0 },
        ]),
        "u1's first visit came from ads; u4 never entered"
    );
    assert_eq!(answer.results()["steps"][0]["count"], 3);
    assert_eq!(answer.results()["steps"][1]["count"], 1);
    // Last touch: u1's attempt counts under the source of its purchase.
    let mut last_touch = report.clone();
    last_touch["attribution"] = json!("last_defined");
    let answer = acme.owner.post(&path, last_touch).await;
    assert_eq!(
        answer.results()["segments"],
        json!([
            { "segment": "mail", "counts": [2, 1], "overall_conversion": 0.5 },
            { "segment": "ads", "counts": [1, 0], "overall_conversion": 0.0 },
        ]),
        "{answer:?}"
    );
    let mut wrong = report.clone();
    wrong["attribution"] = json!({ "step": 2 });
    let answer = acme.owner.post(&path, wrong).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.body["error"].as_str().unwrap_or_default().contains("from 0 to 1"), "{answer:?}");
}

/// The answer cache: a report over days that have ended is answered again from memory while
/// nothing it read has changed; events after what it read keep it, an event inside it or a
/// profile change (which a profile filter could read) do not, and an open range is never kept.
#[tokio::test]
async fn a_report_asked_again_comes_from_the_cache_until_what_it_read_changes() {
    let Small { _instance, server, acme, project, path, today } = small().await;
    let day = today.checked_sub(jiff::Span::new().days(3)).unwrap();
    let at =
        |day: jiff::civil::Date| day.at(12, 0, 0, 0).to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp().as_second();
    let visit = |n: u32, user: &str, when: i64| json!({ "event": "Visit", "properties": { "time": when, "distinct_id": user, "$insert_id": format!("c{n}") } });
    import(server.base_url(), &project, &[visit(1, "u1", at(day)), visit(2, "u2", at(day))]).await;
    let closed = json!({ "type": "insights", "range": { "from_date": day.to_string(), "to_date": day.to_string() },
        "unit": "day", "metrics": [{ "event": "Visit", "measure": { "kind": "total" } }] });
    let ask = |report: Value| {
        let owner = acme.owner.clone();
        let path = path.clone();
        async move {
            let reply = owner.post(&path, report).await;
            assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
            let answer = reply.results().clone();
            (answer["from_cache"].as_bool().unwrap(), answer["series"][0]["total"].as_f64().unwrap(), answer)
        }
    };
    let (cached, total, first) = ask(closed.clone()).await;
    assert_eq!((cached, total), (false, 2.0));
    let (cached, total, again) = ask(closed.clone()).await;
    assert_eq!((cached, total), (true, 2.0));
    assert_eq!(again["computed_at"], first["computed_at"], "the kept answer, as it was computed");
    assert_eq!(again["series"], first["series"]);

    // Events after the range leave it; one inside it does not.
    // (A minute ago: /import refuses what lies more than an hour ahead, whatever the hour.)
    let just_now = tally_types::Clock::now(&tally_types::SystemClock).as_second() - 60;
    import(server.base_url(), &project, &[visit(3, "u3", just_now)]).await;
    assert!(ask(closed.clone()).await.0, "an event after what the report read");
    import(server.base_url(), &project, &[visit(4, "u4", at(day) + 60)]).await;
    let (cached, total, _) = ask(closed.clone()).await;
    assert_eq!((cached, total), (false, 3.0), "the new event counts at once");
    assert!(ask(closed.clone()).await.0);

    // A profile change may change any answer.
    let profiles = json!([{ "$token": project.token, "$distinct_id": "u1", "$set": { "plan": "pro" } }]);
    crate::ingest::update_profiles(server.base_url(), &profiles).await;
    assert!(!ask(closed.clone()).await.0, "after a profile change");

    // A range reaching today can still change as time passes: never kept.
    let mut open = closed.clone();
    open["range"]["to_date"] = json!(today.to_string());
    assert!(!ask(open.clone()).await.0);
    let (cached, total, _) = ask(open).await;
    assert_eq!((cached, total), (false, 4.0));
    // Another caller sees the same data: the kept answer serves them too, marked as such.
    let (cached, total, kept) = ask(closed.clone()).await;
    assert_eq!((cached, total), (true, 3.0));
    // `Cache-Control: no-cache` computes it again, and the new answer is kept.
    let reply = acme
        .owner
        .request(reqwest::Method::POST, &path)
        .header(reqwest::header::CACHE_CONTROL, "max-age=0, no-cache")
        .json(&closed)
        .send()
        .await
        .unwrap();
    let fresh: Value = reply.json().await.unwrap();
    assert_eq!(fresh["results"]["from_cache"], false, "{fresh}");
    assert_ne!(fresh["results"]["computed_at"], kept["computed_at"]);
    let (cached, _, again) = ask(closed).await;
    assert!(cached);
    assert_eq!(again["computed_at"], fresh["results"]["computed_at"], "the refreshed answer is the one kept");
}
