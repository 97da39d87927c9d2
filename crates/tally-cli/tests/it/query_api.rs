//! Mixpanel's Query API over a small data set whose answers are worked out by hand: the
//! documented parameters, Mixpanel's response shapes (pinned by snapshots of their
//! structure), `where` and `on` expressions, and the errors.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tally_testkit::TestBackend;

use crate::access::world::tenant;
use crate::ingest::{Project, production};
use crate::support::Instance;

/// The structure of an answer: keys kept (a date as key becomes `<date>`), every value
/// replaced by its JSON type.
fn shape(value: &Value) -> Value {
    let key = |key: &String| if key.parse::<jiff::civil::Date>().is_ok() { "<date>".to_string() } else { key.clone() };
    match value {
        Value::Object(map) => Value::Object(map.iter().map(|(name, value)| (key(name), shape(value))).collect()),
        Value::Array(items) => Value::Array(items.iter().take(2).map(shape).collect()),
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("bool"),
        Value::Null => json!("null"),
    }
}

pub(crate) async fn get(server: &str, project: &Project, path: &str, params: &[(&str, &str)]) -> (StatusCode, Value) {
    let reply = tally_testkit::http_client(None)
        .get(format!("{server}{path}"))
        .query(params)
        .basic_auth(&project.secret, Some(""))
        .send()
        .await
        .unwrap();
    let status = reply.status();
    (status, reply.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_query_api_answers_with_mixpanels_shapes_and_the_right_numbers() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let server = instance.serve().await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let base = server.base_url();

    // Two UTC days, three users (the project's zone is UTC).
    let today = tally_types::Clock::now(&tally_types::SystemClock).to_zoned(jiff::tz::TimeZone::UTC).date();
    let day = |back: i64| today.checked_sub(jiff::Span::new().days(back)).unwrap();
    let (first, second) = (day(3), day(2));
    let at = |date: jiff::civil::Date, seconds: i64| {
        date.to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp().as_second() + 36_000 + seconds
    };
    let mut n = 0;
    let mut event = |name: &str, user: &str, time: i64, extra: Value| {
        n += 1;
        let mut properties = json!({ "time": time, "distinct_id": user, "$insert_id": format!("q{n}") });
        for (key, value) in extra.as_object().unwrap() {
            properties[key] = value.clone();
        }
        json!({ "event": name, "properties": properties })
    };
    let rows = vec![
        event("Sign Up", "u1", at(first, 0), json!({})),
        event("Purchase", "u1", at(first, 60), json!({ "amount": 10, "plan": "pro" })),
        event("Sign Up", "u2", at(first, 10), json!({})),
        event("Purchase", "u2", at(first, 70), json!({ "amount": 5.5, "plan": "free" })),
        event("Purchase", "u2", at(first, 80), json!({ "amount": 4.5, "plan": "pro" })),
        event("Sign Up", "u3", at(first, 20), json!({})),
        event("Page View", "u1", at(second, 0), json!({})),
        // A day and two hours after signing up: outside a one-day funnel window.
        event("Purchase", "u3", at(second, 7200), json!({ "amount": "x" })),
    ];
    let reply = tally_testkit::http_client(None)
        .post(format!("{base}/import?strict=1"))
        .basic_auth(&project.secret, Some(""))
        .json(&rows)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    let (d1, d2) = (first.to_string(), second.to_string());
    let range = [("from_date", d1.as_str()), ("to_date", d2.as_str())];
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&str, String)> {
        range.iter().map(|(k, v)| (*k, v.to_string())).chain(extra.iter().map(|(k, v)| (*k, v.to_string()))).collect()
    };
    let ask = |path: &'static str, params: Vec<(&'static str, String)>| {
        let project = &project;
        async move {
            let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            get(base, project, path, &params).await
        }
    };

    // Segmentation: general, unique, average, `on`, `where`.
    let (status, general) = ask("/api/query/segmentation", with(&[("event", "Purchase")])).await;
    assert_eq!(status, StatusCode::OK, "{general}");
    assert_eq!(general["data"]["series"], json!([d1, d2]));
    assert_eq!(general["data"]["values"], json!({ "Purchase": { &d1: 3, &d2: 1 } }));
    assert_eq!(general["legend_size"], 1);
    let (_, unique) = ask("/api/2.0/segmentation", with(&[("event", "Purchase"), ("type", "unique")])).await;
    assert_eq!(unique["data"]["values"]["Purchase"], json!({ &d1: 2, &d2: 1 }), "the older path answers too");
    let (_, average) = ask("/api/query/segmentation", with(&[("event", "Purchase"), ("type", "average")])).await;
    assert_eq!(average["data"]["values"]["Purchase"], json!({ &d1: 1.5, &d2: 1 }));
    let (_, on) = ask("/api/query/segmentation", with(&[("event", "Purchase"), ("on", "properties[\"plan\"]")])).await;
    assert_eq!(
        on["data"]["values"],
        json!({ "pro": { &d1: 2, &d2: 0 }, "free": { &d1: 1, &d2: 0 }, "(not set)": { &d1: 0, &d2: 1 } }),
        "{on}"
    );
    let (_, limited) =
        ask("/api/query/segmentation", with(&[("event", "Purchase"), ("on", "properties[\"plan\"]"), ("limit", "1")]))
            .await;
    assert_eq!(limited["data"]["values"], json!({ "pro": { &d1: 2, &d2: 0 } }), "the rest is left out: {limited}");
    let (_, filtered) =
        ask("/api/query/segmentation", with(&[("event", "Purchase"), ("where", "properties[\"amount\"] > 5")])).await;
    assert_eq!(filtered["data"]["values"]["Purchase"], json!({ &d1: 2, &d2: 0 }), "{filtered}");
    let (_, text_in) = ask(
        "/api/query/segmentation",
        with(&[
            ("event", "Purchase"),
            ("where", "\"pr\" in properties[\"plan\"] and not defined(properties[\"missing\"])"),
        ]),
    )
    .await;
    assert_eq!(text_in["data"]["values"]["Purchase"], json!({ &d1: 2, &d2: 0 }), "{text_in}");
    let (_, sum) =
        ask("/api/query/segmentation/sum", with(&[("event", "Purchase"), ("on", "properties[\"amount\"]")])).await;
    assert_eq!(sum, json!({ "results": { &d1: 20, &d2: 0 }, "status": "ok" }), "a value that is no number is skipped");
    let (_, mean) =
        ask("/api/query/segmentation/average", with(&[("event", "Purchase"), ("on", "properties[\"amount\"] * 2")]))
            .await;
    assert!((mean["results"][&d1].as_f64().unwrap() - 40.0 / 3.0).abs() < 1e-9, "{mean}");

    // Numeric ranges of `on`: round widths spanning the values (4.5 to 10), the last range
    // holding its upper end; a value that is no number is "(not set)".
    let numeric = |buckets: &'static str| {
        ask(
            "/api/query/segmentation/numeric",
            with(&[("event", "Purchase"), ("on", "properties[\"amount\"]"), ("buckets", buckets)]),
        )
    };
    let (status, two) = numeric("2").await;
    assert_eq!(status, StatusCode::OK, "{two}");
    assert_eq!(
        two["data"]["values"],
        json!({ "0 - 5": { &d1: 1, &d2: 0 }, "5 - 10": { &d1: 2, &d2: 0 }, "(not set)": { &d1: 0, &d2: 1 } }),
        "{two}"
    );
    let (_, ten) = numeric("10").await;
    assert_eq!(
        ten["data"]["values"],
        json!({ "4 - 5": { &d1: 1, &d2: 0 }, "5 - 6": { &d1: 1, &d2: 0 }, "9 - 10": { &d1: 1, &d2: 0 },
            "(not set)": { &d1: 0, &d2: 1 } }),
        "{ten}"
    );
    let (status, refused) = numeric("0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused["error"].as_str().unwrap().contains("buckets"), "{refused}");
    // The app's reports take explicit edges, with open ranges below and above them.
    let edges = acme
        .owner
        .post(
            &format!("/api/app/projects/{}/query", project.id),
            json!({ "type": "insights", "range": { "from_date": d1, "to_date": d2 },
                "metrics": [{ "event": "Purchase" }],
                "breakdown": { "property": "amount", "bins": { "kind": "edges", "edges": [5, 10] } } }),
        )
        .await;
    let totals: std::collections::BTreeMap<String, f64> = edges.results()["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|series| (series["segment"].as_str().unwrap().to_string(), series["total"].as_f64().unwrap()))
        .collect();
    assert_eq!(
        totals,
        [("(not set)", 1.0), ("5 - 10", 1.0), ("< 5", 1.0), (">= 10", 1.0)].map(|(k, v)| (k.to_string(), v)).into(),
        "{totals:?}"
    );

    // The activity stream of two users: every event of theirs, newest first, time in seconds.
    let (status, stream) = ask("/api/query/stream/query", with(&[("distinct_ids", r#"["u1","u3"]"#)])).await;
    assert_eq!(status, StatusCode::OK, "{stream}");
    assert_eq!(stream["status"], "ok");
    let feed: Vec<(String, String, i64)> = stream["results"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| {
            let properties = &event["properties"];
            (
                event["event"].as_str().unwrap().into(),
                properties["distinct_id"].as_str().unwrap().into(),
                properties["time"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("Purchase", "u3", at(second, 7200)),
        ("Page View", "u1", at(second, 0)),
        ("Purchase", "u1", at(first, 60)),
        ("Sign Up", "u3", at(first, 20)),
        ("Sign Up", "u1", at(first, 0)),
    ]
    .map(|(name, user, time)| (name.to_string(), user.to_string(), time));
    assert_eq!(feed, expected);
    let (status, refused) = ask("/api/2.0/stream/query", with(&[("distinct_ids", "u1")])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused["error"].as_str().unwrap().contains("JSON array of distinct ids"), "{refused}");

    // Segmentation as CSV: a date column, then a column per segment.
    let reply = tally_testkit::http_client(None)
        .get(format!("{base}/api/query/segmentation"))
        .query(&[
            ("from_date", d1.as_str()),
            ("to_date", d2.as_str()),
            ("event", "Purchase"),
            ("on", "properties[\"plan\"]"),
            ("format", "csv"),
        ])
        .basic_auth(&project.secret, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    assert!(reply.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert_eq!(reply.text().await.unwrap(), format!("date,(not set),free,pro\n{d1},0,1,2\n{d2},1,0,0\n"));

    // Funnels, per date.
    let (status, funnel) = ask(
        "/api/query/funnels",
        with(&[("events", r#"[{"event":"Sign Up"},{"event":"Purchase"}]"#), ("length", "1"), ("unit", "day")]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{funnel}");
    assert_eq!(funnel["meta"]["dates"], json!([d1, d2]));
    let steps = &funnel["data"][&d1]["steps"];
    assert_eq!((steps[0]["count"].clone(), steps[1]["count"].clone()), (json!(3), json!(2)));
    assert_eq!(steps[1]["avg_time"], 60, "u1 after 60 s, u2 after 60 s");
    assert_eq!(funnel["data"][&d1]["analysis"]["completion"], 2);
    assert_eq!(funnel["data"][&d2]["steps"][0]["count"], 0);

    // Retention: signed up, then came back with a page view.
    let (status, retention) = ask(
        "/api/query/retention",
        with(&[("born_event", "Sign Up"), ("event", "Page View"), ("interval_count", "2")]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{retention}");
    assert_eq!(retention, json!({ &d1: { "first": 3, "counts": [0, 1, 0] } }), "u1 came back the next day");
    let (status, born_where) = ask(
        "/api/query/retention",
        with(&[
            ("born_event", "Sign Up"),
            ("event", "Page View"),
            ("interval_count", "2"),
            ("born_where", "properties[\"distinct_id\"] != \"u1\""),
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{born_where}");
    assert_eq!(born_where, json!({ &d1: { "first": 2, "counts": [0, 0, 0] } }), "born_where keeps u2 and u3 only");

    // Compounded: every day a user bought starts a row of its own; u2's second purchase,
    // ten seconds after the first, is a return in bucket 0.
    let (status, compounded) = ask(
        "/api/query/retention",
        with(&[("retention_type", "compounded"), ("event", "Purchase"), ("interval_count", "1")]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{compounded}");
    assert_eq!(
        compounded,
        json!({ &d1: { "first": 2, "counts": [1, 0] }, &d2: { "first": 1, "counts": [0, 0] } }),
        "{compounded}"
    );
    let (_, names) = ask("/api/query/events/names", vec![]).await;
    assert_eq!(names, json!(["Purchase", "Sign Up", "Page View"]));

    insta::assert_snapshot!(
        "query_api_shapes",
        serde_json::to_string_pretty(&json!({
            "segmentation": shape(&general),
            "segmentation_on": shape(&on["data"]["values"]["pro"]),
            "segmentation_sum": shape(&sum),
            "funnels": shape(&funnel["data"][&d1]),
            "retention": shape(&retention[&d1]),
            "events_names": shape(&names),
        }))
        .unwrap()
    );

    // Several events over time, and one event by a property's values.
    let (status, events) = ask("/api/query/events", with(&[("event", "[\"Sign Up\",\"Purchase\"]")])).await;
    assert_eq!(status, StatusCode::OK, "{events}");
    assert_eq!(events["data"]["series"], json!([d1, d2]));
    assert_eq!(events["data"]["values"], json!({ "Sign Up": { &d1: 3, &d2: 0 }, "Purchase": { &d1: 3, &d2: 1 } }));
    assert_eq!(events["legend_size"], 2);
    let (_, unique_events) =
        ask("/api/2.0/events", with(&[("event", "[\"Purchase\"]"), ("type", "unique"), ("unit", "week")])).await;
    let weekly: Vec<i64> =
        unique_events["data"]["values"]["Purchase"].as_object().unwrap().values().filter_map(Value::as_i64).collect();
    assert_eq!(weekly.iter().sum::<i64>(), 3, "three buyers, each in one week: {unique_events}");
    let (_, last_days) = ask(
        "/api/query/events",
        vec![("event", "[\"Purchase\"]".to_string()), ("unit", "day".to_string()), ("interval", "4".to_string())],
    )
    .await;
    assert_eq!(
        last_days["data"]["series"],
        json!([day(3).to_string(), day(2).to_string(), day(1).to_string(), today.to_string()]),
        "interval: the last four days up to today"
    );
    assert_eq!(last_days["data"]["values"]["Purchase"][&d1], 3);
    let (_, by_plan) =
        ask("/api/query/events/properties", with(&[("event", "Purchase"), ("name", "plan"), ("type", "general")]))
            .await;
    assert_eq!(
        by_plan["data"]["values"],
        json!({ "pro": { &d1: 2, &d2: 0 }, "free": { &d1: 1, &d2: 0 }, "(not set)": { &d1: 0, &d2: 1 } }),
        "{by_plan}"
    );
    let (_, only_pro) =
        ask("/api/query/events/properties", with(&[("event", "Purchase"), ("name", "plan"), ("values", "[\"pro\"]")]))
            .await;
    assert_eq!(only_pro["data"]["values"], json!({ "pro": { &d1: 2, &d2: 0 } }));
    let (_, values) = ask(
        "/api/query/events/properties/values",
        vec![("event", "Purchase".to_string()), ("name", "plan".to_string())],
    )
    .await;
    assert_eq!(values, json!(["pro", "free"]), "most frequent first, over the last 30 days, no \"(not set)\"");
    let (_, top_properties) = ask("/api/query/events/properties/top", vec![("event", "Purchase".to_string())]).await;
    assert_eq!(top_properties["amount"], json!({ "count": 4 }), "{top_properties}");
    assert_eq!(top_properties["plan"], json!({ "count": 3 }), "{top_properties}");
    let (_, one_property) =
        ask("/api/query/events/properties/top", vec![("event", "Purchase".to_string()), ("limit", "1".to_string())])
            .await;
    assert_eq!(one_property.as_object().map(|properties| properties.len()), Some(1), "{one_property}");
    insta::assert_snapshot!(
        "query_api_events_shapes",
        serde_json::to_string_pretty(&json!({
            "events": shape(&events),
            "events_properties": shape(&by_plan["data"]["values"]["pro"]),
            "events_properties_top": shape(&top_properties["plan"]),
            "events_properties_values": shape(&values),
        }))
        .unwrap()
    );

    // Errors say what to fix.
    for (path, params, fragment) in [
        ("/api/query/segmentation", with(&[]), "event is required"),
        ("/api/query/segmentation", vec![("event", "x".to_string())], "from_date is required"),
        ("/api/query/segmentation", with(&[("event", "x"), ("type", "median")]), "type"),
        ("/api/query/segmentation", with(&[("event", "x"), ("where", "properties[\"a\"] ==")]), "at character"),
        ("/api/query/funnels", with(&[("events", "not json")]), "JSON array"),
        ("/api/query/retention", with(&[("born_event", "x"), ("interval_count", "500")]), "interval_count"),
        ("/api/query/events", with(&[]), "event is required"),
        ("/api/query/events", with(&[("event", "Purchase")]), "JSON array"),
        (
            "/api/query/events",
            vec![("event", "[\"x\"]".into()), ("unit", "hour".into()), ("interval", "3".into())],
            "interval",
        ),
        ("/api/query/events/properties", with(&[("event", "Purchase")]), "name is required"),
        ("/api/query/events/properties", with(&[("event", "x"), ("name", "plan"), ("values", "pro")]), "JSON array"),
        ("/api/query/events/top", vec![("type", "median".into())], "type"),
    ] {
        let (status, body) = ask(path, params.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {params:?}: {body}");
        assert!(body["error"].as_str().unwrap_or_default().contains(fragment), "{path} {params:?}: {body}");
        assert!(body["request"].as_str().unwrap_or_default().starts_with(path), "{body}");
    }
    // Without credentials: 401; another project's secret sees only its own project.
    let anonymous = tally_testkit::http_client(None)
        .get(format!("{base}/api/query/segmentation?event=Purchase&from_date={d1}&to_date={d2}"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // Today's top events against yesterday's: three page views today (two yesterday), one
    // search today (none yesterday).
    let now = tally_types::Clock::now(&tally_types::SystemClock).as_second();
    let midnight = today.to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp().as_second();
    let (earlier_today, yesterday) = (midnight + (now - midnight) / 2, midnight - 3600);
    let rows = vec![
        event("Page View", "u1", earlier_today, json!({})),
        event("Page View", "u2", earlier_today, json!({})),
        event("Page View", "u1", earlier_today + 1, json!({})),
        event("Search", "u3", earlier_today, json!({})),
        event("Page View", "u1", yesterday, json!({})),
        event("Page View", "u2", yesterday + 1, json!({})),
    ];
    let reply = tally_testkit::http_client(None)
        .post(format!("{base}/import?strict=1"))
        .basic_auth(&project.secret, Some(""))
        .json(&rows)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    let (status, top) = ask("/api/query/events/top", vec![]).await;
    assert_eq!(status, StatusCode::OK, "{top}");
    assert_eq!(
        top,
        json!({ "events": [
            { "amount": 3, "event": "Page View", "percent_change": 0.5 },
            { "amount": 1, "event": "Search", "percent_change": 0.0 },
        ], "type": "general" })
    );
    let (_, top_unique) = ask("/api/2.0/events/top", vec![("type", "unique".into()), ("limit", "1".into())]).await;
    assert_eq!(
        top_unique["events"],
        json!([{ "amount": 2, "event": "Page View", "percent_change": 0.0 }]),
        "{top_unique}"
    );
    insta::assert_snapshot!("query_api_events_top_shape", serde_json::to_string_pretty(&shape(&top)).unwrap());
}

#[tokio::test]
async fn a_project_over_its_query_limits_gets_429_with_mixpanels_message() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let server = instance.serve_with(&[], &[("TALLY_QUERY_PER_HOUR", "2")]).await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let params = [("event", "Purchase"), ("from_date", "2026-01-01"), ("to_date", "2026-01-02")];
    // Malformed requests are refused for what they are and use none of the allowance.
    let range = [("from_date", "2026-01-01"), ("to_date", "2026-01-02")];
    for (path, bad) in [
        ("/api/query/segmentation", vec![("from_date", "2026-01-01"), ("to_date", "2026-01-02")]),
        ("/api/query/segmentation", vec![("event", "Purchase"), ("from_date", "2026-01-01"), ("to_date", "x")]),
        ("/api/query/segmentation/sum", range.to_vec()),
        ("/api/query/segmentation/numeric", range.to_vec()),
        ("/api/query/funnels", range.to_vec()),
        ("/api/query/retention", range.to_vec()),
    ] {
        let (status, body) = get(server.base_url(), &project, path, &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {bad:?}: {body}");
    }
    for _ in 0..2 {
        let (status, body) = get(server.base_url(), &project, "/api/query/segmentation", &params).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = get(server.base_url(), &project, "/api/query/segmentation", &params).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("Query rate limit exceeded for project_id: {}.", project.id))
            && message.contains("3/2 queries running in the last hour"),
        "{message}"
    );
    // Another project has its own allowance.
    let gamma = tenant(&instance, &server, "owner@gamma.example", "Gamma").await;
    let other = production(&gamma).await;
    let (status, _) = get(server.base_url(), &other, "/api/query/segmentation", &params).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_python_client_pages_through_fifty_thousand_profiles() {
    let Some(python) = tally_testkit::python() else { return };
    let instance = Instance::new(TestBackend::Sqlite).await;
    let server = instance.serve().await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let client = tally_testkit::http_client(None);
    for batch in 0..25 {
        let updates: Vec<Value> = (0..2000)
            .map(|n| {
                let id = batch * 2000 + n;
                json!({ "$token": project.token, "$distinct_id": format!("p{id:05}"),
                    "$set": { "plan": if id % 5 == 0 { "pro" } else { "free" }, "n": id } })
            })
            .collect();
        let reply = client.post(format!("{}/engage", server.base_url())).json(&updates).send().await.unwrap();
        assert_eq!(reply.text().await.unwrap(), "1");
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/engage_pager.py");
    let run = |extra: &[&str]| {
        let output = std::process::Command::new(&python)
            .arg(&script)
            .args([server.base_url(), project.secret.as_str()])
            .args(extra)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };
    let all = run(&[]);
    assert_eq!(all, json!({ "profiles": 50_000, "distinct": 50_000, "pages": 51, "total": 50_000 }));
    let pro = run(&[r#"properties["plan"] == "pro""#]);
    assert_eq!((pro["profiles"].clone(), pro["distinct"].clone()), (json!(10_000), json!(10_000)));
}

#[tokio::test]
async fn users_are_listed_sorted_and_filtered_and_a_feed_spans_merged_ids() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let server = instance.serve().await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let client = tally_testkit::http_client(None);
    let base = server.base_url();
    let profiles = json!([
        { "$token": project.token, "$distinct_id": "ada", "$set": { "age": 36, "plan": "pro" } },
        { "$token": project.token, "$distinct_id": "bob", "$set": { "age": 9, "plan": "free" } },
        { "$token": project.token, "$distinct_id": "cy", "$set": { "plan": "pro" } },
    ]);
    let reply = client.post(format!("{base}/engage")).json(&profiles).send().await.unwrap();
    assert_eq!(reply.text().await.unwrap(), "1");
    let t = tally_types::Clock::now(&tally_types::SystemClock).as_second() - 3600;
    let events = json!([
        { "event": "Opened", "properties": { "time": t, "distinct_id": "$device:d1", "$device_id": "d1", "$insert_id": "a1" } },
        { "event": "Signed In", "properties": { "time": t + 60, "distinct_id": "ada", "$user_id": "ada", "$device_id": "d1", "$insert_id": "a2" } },
        { "event": "Bought", "properties": { "time": t + 120, "distinct_id": "ada", "$insert_id": "a3" } },
        { "event": "Bought", "properties": { "time": t + 130, "distinct_id": "bob", "$insert_id": "b1" } },
    ]);
    let reply = client
        .post(format!("{base}/import?strict=1"))
        .basic_auth(&project.secret, Some(""))
        .json(&events)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);

    let path = format!("/api/app/projects/{}/users", project.id);
    let listed = acme.owner.get(&format!("{path}?sort=age&order=desc")).await;
    let ids: Vec<&str> = listed.results()["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["distinct_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ada", "bob", "cy"], "by age, highest first, the profile without one last");
    let pro =
        acme.owner.get(&format!("{path}?where=properties%5B%22plan%22%5D%20%3D%3D%20%22pro%22&page_size=1")).await;
    assert_eq!(pro.results()["total"], 2);
    assert_eq!(pro.results()["users"].as_array().unwrap().len(), 1);
    let bad = acme.owner.get(&format!("{path}?where=properties%5B")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{bad:?}");

    let today = tally_types::Clock::now(&tally_types::SystemClock).strftime("%Y-%m-%d").to_string();
    let feed = acme
        .owner
        .get(&format!("{path}/activity?distinct_id=%24device%3Ad1&from_date=2020-01-01&to_date={today}"))
        .await;
    let results = feed.results();
    assert_eq!(results["distinct_id"], "ada", "the device's user");
    let names: Vec<&str> =
        results["events"].as_array().unwrap().iter().map(|event| event["event"].as_str().unwrap()).collect();
    assert_eq!(names, ["Bought", "Signed In", "Opened"], "newest first, across merged ids, not bob's");

    // Another organization's Owner does not see them.
    let gamma = tenant(&instance, &server, "owner@gamma.example", "Gamma").await;
    assert_eq!(gamma.owner.get(&path).await.status, StatusCode::NOT_FOUND);
}
