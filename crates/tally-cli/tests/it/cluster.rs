//! Queries on an Apache Ballista cluster on loopback: PostgreSQL, a real S3 server (moto),
//! `tally scheduler`, two `tally executor`s and two ingest nodes. Every report of the
//! differential suite, with profile filters and breakdowns and through a data view,
//! answered through the cluster equals the embedded engine's answer over the same events;
//! an executor killed while queries run costs at most one clear error within 30 s, never a
//! wrong answer or a stall.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tally_testkit::TestBackend;
use tally_testkit::api::{Api, PASSWORD};
use tally_testkit::process::TallyProcess;

use crate::access::world::tenant;
use crate::ingest::production;
use crate::query::{ZONE, data_set, import};
use crate::support::{Instance, binary};

/// The reports of the differential suite (`query.rs`, checked there against DuckDB).
fn reports(range: &Value) -> Vec<(&'static str, Value)> {
    let gold = json!({ "property": "tier", "source": "user", "operator": "equals", "value": ["gold"] });
    let steps = json!([{ "event": "Page View" }, { "event": "Sign Up" }, { "event": "Purchase" }]);
    let funnel = |extra: Value| {
        let mut report = json!({ "type": "funnels", "range": range, "window_seconds": 86_400, "steps": steps });
        for (key, value) in extra.as_object().unwrap() {
            report[key] = value.clone();
        }
        report
    };
    let retention = |criterion: &str, born: &str| {
        json!({ "type": "retention", "range": range, "unit": "day", "buckets": 5, "criterion": criterion,
            "born": { "event": born }, "return": { "event": "Page View" } })
    };
    vec![
        (
            "insights",
            json!({ "type": "insights", "range": range, "unit": "day", "metrics": [
                { "event": "Page View", "measure": { "kind": "total" } },
                { "event": "Page View", "measure": { "kind": "unique" } },
                { "event": "Page View", "measure": { "kind": "per_user", "aggregate": "average" } },
                { "event": "Purchase", "measure": { "kind": "property", "property": "amount", "aggregate": "sum" } },
                { "event": "Purchase", "measure": { "kind": "property", "property": "amount", "aggregate": "p90" } },
                { "event": "Purchase", "filters": [{ "property": "amount", "operator": "greater_than", "value": 50 }],
                  "measure": { "kind": "total" } },
            ] }),
        ),
        (
            "breakdown",
            json!({ "type": "insights", "range": range, "unit": "week",
                "metrics": [{ "event": "Purchase", "measure": { "kind": "unique" } }],
                "breakdown": { "property": "plan", "limit": 2 } }),
        ),
        (
            "where",
            json!({ "type": "insights", "range": range, "unit": "day",
                "metrics": [{ "event": "Purchase", "measure": { "kind": "total" } }],
                "where": "properties[\"amount\"] > 20 and defined(properties[\"plan\"])" }),
        ),
        ("funnel", funnel(json!({}))),
        ("funnel excluded", funnel(json!({ "exclusions": [{ "event": "Page View", "after": 1, "before": 2 }] }))),
        ("funnel totals", funnel(json!({ "counting": "totals" }))),
        ("funnel sessions", funnel(json!({ "counting": "sessions" }))),
        ("funnel optimized", funnel(json!({ "optimized_reentry": true }))),
        // Values numbered in a first query, the numbering sent with the plan.
        ("funnel held", funnel(json!({ "hold_constant": ["$browser"] }))),
        ("funnel attributed", funnel(json!({ "breakdown": { "property": "$browser" }, "attribution": { "step": 1 } }))),
        (
            "funnel last touch",
            funnel(json!({ "counting": "totals", "hold_constant": ["$browser"], "breakdown": { "property": "plan" },
                "attribution": "last_defined" })),
        ),
        // Profiles (their table travels with the plan).
        (
            "profile filters",
            json!({ "type": "insights", "range": range, "unit": "day", "metrics": [
                { "event": "Page View", "measure": { "kind": "total" }, "filters": [gold] },
                { "event": "Page View", "measure": { "kind": "unique" },
                  "filters": [{ "property": "age", "source": "user", "operator": "greater_than", "value": 40 }] },
            ] }),
        ),
        (
            "profile breakdown",
            json!({ "type": "insights", "range": range, "unit": "week",
                "metrics": [{ "event": "Page View", "measure": { "kind": "unique" } }],
                "breakdown": { "property": "tier", "source": "user", "limit": 2 } }),
        ),
        ("funnel of gold users", funnel(json!({ "filters": [gold] }))),
        ("retention on", retention("on", "Sign Up")),
        ("retention on or after", retention("on_or_after", "Sign Up")),
        (
            "recurring retention",
            json!({ "type": "retention", "range": range, "unit": "day", "buckets": 5, "criterion": "on",
                "kind": "recurring", "born": { "event": "Page View" }, "return": { "event": "Page View" } }),
        ),
        (
            "retention brackets",
            json!({ "type": "retention", "range": range, "unit": "day", "brackets": [1, 2, 4, 7], "criterion": "on",
                "born": { "event": "Page View" }, "return": { "event": "Page View" } }),
        ),
        (
            "flows",
            json!({ "type": "flows", "range": range, "anchor": { "event": "Sign Up" }, "steps_before": 2,
                "steps_after": 3, "window_seconds": 86_400, "top_events": 50 }),
        ),
    ]
}

/// Whether two answers are the same (numbers to 1e-9 relative: sums may add up in another
/// order), apart from when they were computed.
fn same(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
        }
        (Value::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b)),
        (Value::Object(a), Value::Object(b)) => {
            let keys = |object: &serde_json::Map<String, Value>| -> Vec<String> {
                object.keys().filter(|key| *key != "computed_at" && *key != "from_cache").cloned().collect()
            };
            keys(a) == keys(b) && keys(a).iter().all(|key| same(&a[key], &b[key]))
        }
        _ => left == right,
    }
}

#[tokio::test]
async fn reports_on_a_ballista_cluster_equal_the_embedded_engines_and_survive_a_killed_executor() {
    let Some(python) = tally_testkit::python() else { return };
    if !tally_testkit::backends().contains(&TestBackend::Postgres) {
        return;
    }
    let s3 = tally_testkit::s3::S3Server::start(&python, "tally-cluster").await;
    let instance = Instance::new(TestBackend::Postgres).await;
    let config = instance.data_dir.with_file_name("tally.toml");
    std::fs::write(&config, s3.region_toml("us", "events")).unwrap();
    let config = config.to_str().unwrap();

    // The cluster: a scheduler and two executors, each its own `tally` process reading the
    // bucket the config names.
    let scheduler_port = tally_testkit::free_port();
    let cluster_url = format!("df://127.0.0.1:{scheduler_port}");
    let scheduler_listen = format!("127.0.0.1:{scheduler_port}");
    let scheduler_args = ["--config", config, "scheduler", "--listen", &scheduler_listen];
    let mut scheduler =
        TallyProcess::start(binary(), &scheduler_args, &[], "Tally's query scheduler is listening on ").await;
    assert_eq!(scheduler.base_url(), cluster_url);
    let executor = |port: u16| {
        let listen = format!("127.0.0.1:{port}");
        let data_dir = instance.data_dir.join(format!("executor-{port}"));
        let scheduler = scheduler_listen.clone();
        async move {
            let args = ["--config", config, "--data-dir", data_dir.to_str().unwrap(), "executor"];
            let mut all: Vec<&str> = args.to_vec();
            all.extend(["--scheduler", &scheduler, "--listen", &listen, "--tasks", "2"]);
            TallyProcess::start(binary(), &all, &[], "Tally's query executor is listening on ").await
        }
    };
    let mut executor_1 = executor(tally_testkit::free_port()).await;
    let mut executor_2 = executor(tally_testkit::free_port()).await;

    // Two ingest nodes sending their reports to the cluster: node A flushes every second,
    // node B keeps its events in memory (its plans carry them to the executors).
    let args = ["--config", config];
    let node_a = instance
        .serve_with(
            &args,
            &[("TALLY_NODE_ID", "node-a"), ("TALLY_INGEST_FLUSH_SECONDS", "1"), ("TALLY_QUERY_CLUSTER", &cluster_url)],
        )
        .await;
    let (_dir_b, data_b) = tally_testkit::process::data_dir();
    let key_file = instance.data_dir.join("secret.key");
    let node_b_env = |cluster: Option<&str>| {
        let mut env: Vec<(String, String)> =
            instance.env().into_iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
        env.extend([
            ("TALLY_NODE_ID".into(), "node-b".into()),
            ("TALLY_SECRETS_KEY_FILE".into(), key_file.to_str().unwrap().into()),
            ("TALLY_INGEST_FLUSH_SECONDS".into(), "3600".into()),
        ]);
        if let Some(url) = cluster {
            env.push(("TALLY_QUERY_CLUSTER".into(), url.into()));
        }
        env
    };
    let start_b = |cluster: Option<&str>| {
        let env = node_b_env(cluster);
        let data_b = data_b.clone();
        async move {
            let env: Vec<(&str, &str)> = env.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
            TallyProcess::serve(binary(), &data_b, &args, &env).await
        }
    };
    let mut node_b = start_b(Some(&cluster_url)).await;
    let acme = tenant(&instance, &node_a, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let path = format!("/api/app/projects/{}", project.id);
    acme.owner.patch(&path, json!({ "timezone": ZONE })).await.results();

    // The differential suite's data: its first load through node A (flushed to the bucket),
    // its second (merges, re-sent copies) through node B (in B's memory).
    let today = crate::query::today_in_zone();
    let day = |back: i64| today.checked_sub(jiff::Span::new().days(back)).unwrap();
    let (first, second) = data_set(day(14), 11);
    import(node_a.base_url(), &project, &first).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while s3.keys("events/project=").await.is_empty() {
        assert!(Instant::now() < deadline, "node A did not flush within 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Node A's last events reach the bucket within its flush interval.
    tokio::time::sleep(Duration::from_secs(2)).await;
    import(node_b.base_url(), &project, &second).await;
    let (profiles, _) = crate::query::profiles_of(&project.token);
    crate::ingest::update_profiles(node_b.base_url(), &json!(profiles)).await;

    // A data view: three events, from two browsers, of gold users.
    let view = acme
        .owner
        .post(
            &format!("{path}/data-views"),
            json!({ "name": "Gold browsers", "filters": { "events": ["Page View", "Sign Up", "Purchase"], "filters": [
                { "property": "$browser", "operator": "equals", "value": ["Chrome", "Firefox"] },
                { "property": "tier", "source": "user", "operator": "equals", "value": ["gold"] } ] } }),
        )
        .await;
    assert_eq!(view.status.as_u16(), 201, "{view:?}");
    let in_view = format!("{path}/query?workspace_id={}", view.results()["id"]);

    let range = json!({ "from_date": day(10).to_string(), "to_date": day(2).to_string() });
    let mut reports: Vec<(String, String, Value)> =
        reports(&range).into_iter().map(|(name, report)| (name.to_string(), format!("{path}/query"), report)).collect();
    // Through the view: its events and members reach the executors as plan state.
    for name in ["insights", "funnel", "funnel held", "retention on", "flows"] {
        let report = reports.iter().find(|(named, ..)| named == name).unwrap().2.clone();
        reports.push((format!("{name} in the view"), in_view.clone(), report));
    }
    let ask = |api: &Api, path: &str, report: &Value| {
        let (api, path, report) = (api.clone(), path.to_string(), report.clone());
        async move {
            // Computed every time, never a kept answer.
            let request = api.request(reqwest::Method::POST, &path).header("cache-control", "no-cache").json(&report);
            match tokio::time::timeout(Duration::from_secs(60), request.send()).await {
                Ok(reply) => {
                    let reply = reply.unwrap();
                    let status = reply.status();
                    tally_testkit::api::Reply { status, body: reply.json().await.unwrap_or(Value::Null) }
                }
                Err(_) => {
                    tally_testkit::api::Reply { status: reqwest::StatusCode::GATEWAY_TIMEOUT, body: json!("over 60 s") }
                }
            }
        }
    };
    let on_b = Api::sign_in(node_b.base_url(), "owner@acme.example", PASSWORD).await;
    let mut clustered = Vec::new();
    for (name, path, report) in &reports {
        eprintln!("{:?} asking the cluster: {name}", Instant::now());
        let reply = ask(&on_b, path, report).await;
        if !reply.status.is_success() {
            let logs = [node_b.output_so_far(), scheduler.output_so_far(), executor_2.output_so_far()].concat();
            panic!("{name} on the cluster: {:?} {}\n{}", reply.status, reply.body, logs.join("\n"));
        }
        clustered.push(reply.results().clone());
    }
    // The filters, the view and the held values each narrow what they count (so equal
    // answers below compare something).
    let answer = |name: &str| &clustered[reports.iter().position(|(named, ..)| named == name).unwrap()];
    let total = |name: &str, series: usize| answer(name)["series"][series]["total"].as_f64().unwrap();
    let step = |name: &str, step: usize| answer(name)["steps"][step]["count"].as_u64().unwrap();
    assert!(0.0 < total("profile filters", 0) && total("profile filters", 0) < total("insights", 0));
    assert!(0.0 < total("insights in the view", 0) && total("insights in the view", 0) < total("insights", 0));
    assert!(step("funnel held", 1) < step("funnel", 1), "{}", answer("funnel held"));
    assert!(0 < step("funnel in the view", 1) && step("funnel in the view", 0) < step("funnel", 0));
    assert!(answer("funnel attributed")["segments"].as_array().unwrap().len() >= 3, "{}", answer("funnel attributed"));

    // One executor is killed (SIGKILL) while queries run: every query answers the same
    // as before or fails with a clear error, each within 30 s; the survivor carries on.
    let (funnel_name, funnel_path, funnel_report) = &reports[3];
    let funnel_answer = &clustered[3];
    eprintln!("{:?} killing an executor", Instant::now());
    // What each process has said so far: a stall prints only what came after.
    let said_before = [scheduler.output_so_far().len(), executor_1.output_so_far().len(), node_b.output_so_far().len()];
    let killer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        executor_2.kill().await;
        executor_2
    });
    let mut errors = Vec::new();
    let until = Instant::now() + Duration::from_secs(20);
    let mut answered_after_kill = 0;
    let mut longest = Duration::ZERO;
    while Instant::now() < until {
        let started = Instant::now();
        let Ok(reply) = tokio::time::timeout(Duration::from_secs(30), ask(&on_b, funnel_path, funnel_report)).await
        else {
            let after = [scheduler.output_so_far(), executor_1.output_so_far(), node_b.output_so_far()];
            let logs: Vec<String> = ["scheduler", "surviving executor", "node B"]
                .iter()
                .zip(after.iter().zip(said_before))
                .map(|(who, (lines, before))| format!("== {who} since the kill:\n{}", lines[before..].join("\n")))
                .collect();
            panic!("{funnel_name} stalled past 30 s after an executor died:\n{}", logs.join("\n"));
        };
        assert!(started.elapsed() < Duration::from_secs(30));
        longest = longest.max(started.elapsed());
        if reply.status.is_success() {
            assert!(same(reply.results(), funnel_answer), "{funnel_name} after a kill: {}", reply.body);
            if killer.is_finished() {
                answered_after_kill += 1;
            }
        } else {
            assert_eq!(reply.status.as_u16(), 503, "{}", reply.body);
            errors.push(reply.body.to_string());
        }
        if answered_after_kill >= 3 {
            break;
        }
    }
    let _killed = killer.await.unwrap();
    eprintln!("after the kill: {answered_after_kill} answers, {} errors, the longest query {longest:?}", errors.len());
    assert!(answered_after_kill >= 3, "the surviving executor answers: {errors:?}");
    assert!(errors.len() <= 2, "{errors:?}");

    eprintln!("{:?} stopping the scheduler", Instant::now());
    // Without the scheduler the node says what is wrong.
    scheduler.kill().await;
    let reply = ask(&on_b, &reports[0].1, &reports[0].2).await;
    assert_eq!(reply.status.as_u16(), 503, "{}", reply.body);
    assert_eq!(reply.body["code"], "storage_unavailable", "{}", reply.body);
    // The log says which cluster failed (the answer says to retry, as for any storage outage).
    let said =
        node_b.output_so_far().iter().any(|line| line.contains(&format!("on the query cluster at {cluster_url}")));
    assert!(said, "{}", node_b.output_so_far().join("\n"));

    // The embedded engine over the same events: node B restarted without a cluster (its
    // log replays the same events into memory, or its stop flushed them).
    node_b.terminate();
    node_b.wait(Duration::from_secs(30)).await;
    let node_b = start_b(None).await;
    let on_b = Api::sign_in(node_b.base_url(), "owner@acme.example", PASSWORD).await;
    for ((name, path, report), clustered) in reports.iter().zip(&clustered) {
        let embedded = ask(&on_b, path, report).await;
        assert!(
            same(embedded.results(), clustered),
            "{name}: embedded {} but the cluster said {clustered}",
            embedded.results()
        );
    }
}
