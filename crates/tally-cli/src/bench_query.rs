//! `tally bench query`: generates a seeded product-analytics data set (power-law users,
//! sessions, a purchase funnel and noise events over 30 days), loads it into a scratch
//! server through `/import`, waits for it to reach compacted Parquet files, then times each
//! query class through the HTTP API — and, in the same run, the same questions answered by
//! DuckDB and chDB over Tally's own Parquet files (`tests/peers/bench_query.py`, when a
//! Python with them is given). Prints each time and the ratio.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::bench::{Scratch, fail, sample_rss, start_server, tally};
use crate::commands::CliError;

/// What `tally bench query` runs.
pub(crate) struct QueryBench {
    pub events: usize,
    pub dir: Option<PathBuf>,
    /// A Python with `duckdb` (and optionally `chdb`) for the comparison.
    pub python: Option<PathBuf>,
    /// Times each query is run (the best is reported).
    pub runs: usize,
    /// `tests/peers/bench_query.py`.
    pub script: PathBuf,
    /// Also time the questions on a query cluster on this machine.
    pub cluster: bool,
}

/// xorshift64*: the same data set on every run.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const DAYS: i64 = 30;
const NOISE: [&str; 12] = [
    "Search",
    "Scroll",
    "Open App",
    "Close App",
    "Share",
    "Like",
    "Comment",
    "Notification Opened",
    "Settings Changed",
    "Video Played",
    "Video Paused",
    "Help Opened",
];
const FUNNEL: [(&str, f64); 5] =
    [("Page View", 1.0), ("View Item", 0.45), ("Add To Cart", 0.30), ("Checkout Started", 0.45), ("Purchase", 0.65)];
const BROWSERS: [&str; 4] = ["Chrome", "Chrome", "Safari", "Firefox"];
const PLANS: [&str; 5] = ["free", "free", "free", "pro", "team"];

/// One session's events as `/import` rows. Users follow a power law (a few do most of the
/// events); each session walks the funnel as far as its odds let it, with noise between.
fn session(rng: &mut Seeded, users: u64, first_day_s: i64, n: &mut u64, out: &mut Vec<Value>) {
    let user = ((rng.unit().powf(3.0)) * users as f64) as u64;
    let day = rng.below(DAYS as u64) as i64;
    let mut time = first_day_s + day * 86_400 + rng.below(86_400) as i64;
    let browser = BROWSERS[(user % BROWSERS.len() as u64) as usize];
    let plan = PLANS[(user / 7 % PLANS.len() as u64) as usize];
    let mut push = |name: &str, time: i64, rng: &mut Seeded, out: &mut Vec<Value>| {
        *n += 1;
        let mut properties = json!({
            "time": time, "distinct_id": format!("user-{user}"), "$insert_id": format!("b{n}"),
            "$browser": browser, "plan": plan, "url": format!("/page/{}", (rng.unit().powf(4.0) * 5000.0) as u64),
        });
        if name == "Purchase" {
            properties["amount"] = json!((rng.below(20_000) as f64) / 100.0);
        }
        out.push(json!({ "event": name, "properties": properties }));
    };
    for (step, (name, odds)) in FUNNEL.iter().enumerate() {
        if step > 0 && rng.unit() > *odds {
            break;
        }
        for _ in 0..rng.below(3) {
            time += 1 + rng.below(60) as i64;
            push(NOISE[(rng.unit().powf(2.0) * NOISE.len() as f64) as usize], time, rng, out);
        }
        time += 1 + rng.below(120) as i64;
        push(name, time, rng, out);
    }
}

/// What the logs may still hold when the load counts as settled: a flush leaves an open,
/// nearly empty segment behind.
const SETTLED_LOG_BYTES: u64 = 1 << 20;
/// The longest the bench waits for the load to settle before it times the questions anyway.
const SETTLE_LIMIT: Duration = Duration::from_secs(30 * 60);

/// What the data folder holds: the event files' bytes and count, and the bytes in the
/// write-ahead logs (events received and not yet in a file; a flush removes the segments
/// it wrote out).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Stored {
    parquet_bytes: u64,
    parquet_files: usize,
    logged_bytes: u64,
}

fn stored(dir: &Path) -> Stored {
    let mut total = Stored::default();
    let Ok(entries) = std::fs::read_dir(dir) else { return total };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            let inner = stored(&path);
            total.parquet_bytes += inner.parquet_bytes;
            total.parquet_files += inner.parquet_files;
            total.logged_bytes += inner.logged_bytes;
            continue;
        }
        let bytes = entry.metadata().map_or(0, |metadata| metadata.len());
        if path.extension().is_some_and(|extension| extension == "parquet") && path.to_string_lossy().contains("/day=")
        {
            total.parquet_bytes += bytes;
            total.parquet_files += 1;
        } else if path.parent().is_some_and(|parent| parent.ends_with("wal")) {
            total.logged_bytes += bytes;
        }
    }
    total
}

/// `POST /api/app/sessions`; returns the session cookie.
async fn sign_in(client: &reqwest::Client, base: &str, email: &str, password: &str) -> Result<String, CliError> {
    let reply = client
        .post(format!("{base}/api/app/sessions"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .map_err(|error| fail("sign in", error))?;
    let cookie = reply
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.contains("tally_session="))
        .and_then(|value| value.split(';').next())
        .map(str::to_string);
    cookie.ok_or_else(|| fail("sign in", "no session cookie"))
}

pub(crate) async fn query(bench: QueryBench) -> Result<(), CliError> {
    let exe = std::env::current_exe().map_err(|error| fail("find this binary", error))?;
    let root = bench.dir.unwrap_or_else(std::env::temp_dir).join(format!("tally-bench-{}", std::process::id()));
    std::fs::create_dir_all(&root).map_err(|error| fail("create the scratch folder", error))?;
    let scratch = Scratch(root);
    let data_dir = scratch.0.join("data");
    let (email, password) = ("bench@tally.invalid", "bench password that is long enough");
    let created = tally(
        &exe,
        &data_dir,
        &["admin", "bootstrap", "--email", email, "--org", "Bench", "--password-stdin", "--json"],
        Some(password),
    )?;
    let project = &created["projects"][0];
    let (Some(secret), Some(project_id)) = (project["api_secret"].as_str(), project["id"].as_i64()) else {
        return Err(fail("bootstrap", "no project"));
    };
    crate::commands::install_tls_provider();
    let client = reqwest::Client::builder().build().map_err(|error| fail("HTTP client", error))?;
    let env = [("TALLY_INGEST_FLUSH_SECONDS", "5"), ("TALLY_INGEST_EVENTS_PER_SECOND_PER_PROJECT", "100000000")];
    let (server, base) = start_server(&exe, &data_dir, &env, &client).await?;

    // Load: the last 30 whole UTC days, in batches of 2000, two requests in flight.
    let today = tally_types::Clock::now(&tally_types::SystemClock).as_second().div_euclid(86_400);
    let first_day = (today - DAYS) * 86_400;
    let users = (bench.events as u64 / 24).max(10);
    let started = Instant::now();
    let mut rng = Seeded(0x005e_ed0f_7a11);
    let mut n = 0u64;
    let mut pending: Vec<Value> = Vec::with_capacity(2100);
    let mut in_flight: Option<tokio::task::JoinHandle<Result<(), CliError>>> = None;
    loop {
        let done = n as usize >= bench.events;
        if !done {
            session(&mut rng, users, first_day, &mut n, &mut pending);
        }
        // Send full batches, and at the end what is left.
        let ready = pending.len() >= 2000 || (done && !pending.is_empty());
        if !ready {
            if done {
                break;
            }
            continue;
        }
        let batch: Vec<Value> = pending.drain(..pending.len().min(2000)).collect();
        let body = serde_json::to_vec(&batch).map_err(|error| fail("encode", error))?;
        if let Some(previous) = in_flight.take() {
            previous.await.map_err(|error| fail("import", error))??;
        }
        let (client, url, secret) = (client.clone(), format!("{base}/import?strict=1"), secret.to_string());
        in_flight = Some(tokio::spawn(async move {
            let reply = client
                .post(url)
                .basic_auth(secret, Some(""))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .map_err(|error| fail("import", error))?;
            if reply.status().is_success() {
                Ok(())
            } else {
                Err(fail("import", reply.text().await.unwrap_or_default()))
            }
        }));
    }
    if let Some(previous) = in_flight.take() {
        previous.await.map_err(|error| fail("import", error))??;
    }
    let load_seconds = started.elapsed().as_secs_f64();
    // Wait until flushes and compaction settle: every event is in a file (the logs are
    // all but empty) and the files have not changed for 15 s. Questions
    // asked with events still in memory deduplicate whole days against them and measure
    // the backlog, not the engine.
    let settle = Instant::now();
    let mut last = stored(&data_dir);
    let mut stable_since = Instant::now();
    while (stable_since.elapsed() < Duration::from_secs(15) || last.logged_bytes > SETTLED_LOG_BYTES)
        && settle.elapsed() < SETTLE_LIMIT
    {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = stored(&data_dir);
        if (now.parquet_bytes, now.parquet_files) != (last.parquet_bytes, last.parquet_files) {
            stable_since = Instant::now();
        }
        last = now;
    }
    let unflushed = last.logged_bytes;
    if unflushed > SETTLED_LOG_BYTES {
        let minutes = SETTLE_LIMIT.as_secs() / 60;
        eprintln!(
            "tally bench query: {unflushed} bytes of events still in the log after {minutes} minutes; timing anyway"
        );
    }
    let Stored { parquet_bytes: bytes, parquet_files: files, .. } = last;
    println!(
        "tally bench query: {n} events of {users} users over {DAYS} days loaded in {load_seconds:.1} s ({:.0} events/s), settled in {:.0} s",
        n as f64 / load_seconds,
        settle.elapsed().as_secs_f64()
    );
    println!("on disk: {files} Parquet files, {bytes} bytes, {:.2} bytes per event", bytes as f64 / n.max(1) as f64);

    let cookie = sign_in(&client, &base, email, password).await?;
    let day = |offset: i64| {
        jiff::Timestamp::from_second((today + offset) * 86_400).map(|at| at.strftime("%Y-%m-%d").to_string())
    };
    let (Ok(from), Ok(to)) = (day(-DAYS), day(-1)) else { return Err(fail("dates", "out of range")) };
    let range = json!({ "from_date": from, "to_date": to });
    let questions = [
        (
            "filtered count",
            json!({ "type": "insights", "range": range, "unit": "day", "metrics": [{ "event": "View Item",
            "filters": [{ "property": "$browser", "operator": "equals", "value": ["Chrome"] }] }] }),
        ),
        (
            "daily uniques",
            json!({ "type": "insights", "range": range, "unit": "day",
            "metrics": [{ "event": "Page View", "measure": { "kind": "unique" } }] }),
        ),
        (
            "3-step funnel, 1 day",
            json!({ "type": "funnels", "range": range, "window_seconds": 86_400,
            "steps": [{ "event": "Page View" }, { "event": "Add To Cart" }, { "event": "Purchase" }] }),
        ),
        (
            "retention, 10 days",
            json!({ "type": "retention", "range": range, "unit": "day", "buckets": 10,
            "born": { "event": "Page View" }, "return": { "event": "Page View" } }),
        ),
    ];
    let (rss_before, _) = server.memory_kb().unwrap_or((0, 0));
    let asker = Asker { client: &client, base: &base, cookie: &cookie, project_id, runs: bench.runs };
    let mut tally_times = Vec::new();
    let mut answers = Vec::new();
    for (label, report) in &questions {
        let (best, peak, answer) = asker.time(&server, label, report).await?;
        tally_times.push((label, best, peak));
        answers.push(answer);
    }
    let summary = json!({
        "filtered_count": answers[0]["series"][0]["total"],
        "uniques_first_day": answers[1]["series"][0]["values"][0],
        "funnel": answers[2]["steps"].as_array().map(|steps| steps.iter().map(|step| step["count"].clone()).collect::<Vec<_>>()),
        "retention_first": answers[3]["total"]["first"],
    });
    println!("tally's answers: {summary}");

    let others = match &bench.python {
        Some(python) => compare(python, &bench.script, &data_dir, &from, &to, bench.runs)?,
        None => Value::Null,
    };
    println!(
        "{:<22} {:>10} {:>12} {:>10} {:>10} {:>10} {:>10}",
        "query", "tally s", "peak RSS MiB", "duckdb s", "ratio", "chdb s", "ratio"
    );
    let keys = ["filtered_count", "daily_uniques", "funnel", "retention"];
    for ((label, seconds, peak), key) in tally_times.iter().zip(keys) {
        let other = |engine: &str| others[engine][key]["seconds"].as_f64();
        let cell = |value: Option<f64>| value.map_or_else(|| "-".to_string(), |value| format!("{value:.3}"));
        let ratio =
            |value: Option<f64>| value.map_or_else(|| "-".to_string(), |value| format!("{:.2}", seconds / value));
        println!(
            "{label:<22} {seconds:>10.3} {:>12.0} {:>10} {:>10} {:>10} {:>10}",
            peak.max(&rss_before) / 1024,
            cell(other("duckdb")),
            ratio(other("duckdb")),
            cell(other("chdb")),
            ratio(other("chdb")),
        );
    }
    if !others.is_null() {
        println!("duckdb's answers: {}", others["duckdb"]["answers"]);
        println!("chdb's answers: {}", others["chdb"]["answers"]);
    }
    if bench.cluster {
        drop(server);
        cluster(&exe, &data_dir, &env, &client, &questions, (&tally_times, &answers), (email, password, project_id))
            .await?;
    } else {
        drop(server);
    }
    Ok(())
}

/// Asks the server the bench's questions, each `runs` times, never from the cache.
struct Asker<'a> {
    client: &'a reqwest::Client,
    base: &'a str,
    cookie: &'a str,
    project_id: i64,
    runs: usize,
}

impl Asker<'_> {
    /// The best time, the server's peak RSS while asking, and the answer.
    async fn time(
        &self,
        server: &crate::bench::Server,
        label: &str,
        report: &Value,
    ) -> Result<(f64, u64, Value), CliError> {
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = tokio::spawn(sample_rss(server.0.id(), stop.clone()));
        let mut best = f64::MAX;
        let mut answer = Value::Null;
        for _ in 0..self.runs.max(1) {
            let asked = Instant::now();
            let reply = self
                .client
                .post(format!("{}/api/app/projects/{}/query", self.base, self.project_id))
                .header(reqwest::header::COOKIE, self.cookie)
                // Every run computes its answer: the cache would answer the second at once.
                .header(reqwest::header::CACHE_CONTROL, "no-cache")
                .json(report)
                .send()
                .await
                .map_err(|error| fail(label, error))?;
            let status = reply.status();
            let body: Value = reply.json().await.map_err(|error| fail(label, error))?;
            if !status.is_success() {
                return Err(fail(label, body));
            }
            if body["results"]["from_cache"] != Value::Bool(false) {
                return Err(fail(label, "an answer came from the cache although the bench asked for a fresh one"));
            }
            best = best.min(asked.elapsed().as_secs_f64());
            answer = body["results"].clone();
        }
        stop.store(true, Ordering::Relaxed);
        Ok((best, sampler.await.unwrap_or(0), answer))
    }
}

/// The same questions through a query cluster on this machine (a scheduler and two
/// executors, each `tally` process reading the same files), beside the embedded times.
async fn cluster(
    exe: &Path,
    data_dir: &Path,
    env: &[(&str, &str)],
    client: &reqwest::Client,
    questions: &[(&str, Value)],
    embedded: (&[(&&str, f64, u64)], &[Value]),
    (email, password, project_id): (&str, &str, i64),
) -> Result<(), CliError> {
    let scheduler_port = crate::bench::free_port()?;
    let spawn = |args: Vec<String>| {
        std::process::Command::new(exe)
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .env("TALLY_LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(crate::bench::Server)
            .map_err(|error| fail("start the query cluster", error))
    };
    let scheduler_address = format!("127.0.0.1:{scheduler_port}");
    let _scheduler = spawn(vec!["scheduler".into(), "--listen".into(), scheduler_address.clone()])?;
    let mut executors = Vec::new();
    for _ in 0..2 {
        let port = crate::bench::free_port()?;
        let args = ["executor", "--scheduler", &scheduler_address, "--listen", &format!("127.0.0.1:{port}")];
        executors.push(spawn(args.map(String::from).to_vec())?);
        // An executor binds its port before the next one looks for a free port.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let url = format!("df://{scheduler_address}");
    let mut with_cluster: Vec<(&str, &str)> = env.to_vec();
    with_cluster.push(("TALLY_QUERY_CLUSTER", &url));
    let (server, base) = start_server(exe, data_dir, &with_cluster, client).await?;
    let cookie = sign_in(client, &base, email, password).await?;
    let asker = Asker { client, base: &base, cookie: &cookie, project_id, runs: 2 };
    println!(
        "{:<22} {:>12} {:>12} {:>10}   (the node, a scheduler and two executors share this machine)",
        "query", "embedded s", "cluster s", "ratio"
    );
    let (times, answers) = embedded;
    for (((label, report), (_, alone, _)), answer) in questions.iter().zip(times).zip(answers) {
        let (clustered, _, cluster_answer) = asker.time(&server, label, report).await?;
        let same = strip_times(&cluster_answer) == strip_times(answer);
        println!(
            "{label:<22} {alone:>12.3} {clustered:>12.3} {:>10.2}   {}",
            clustered / alone,
            if same { "same answer" } else { "DIFFERENT ANSWER" }
        );
        if !same {
            return Err(fail(label, "the cluster's answer differs from the embedded engine's"));
        }
    }
    Ok(())
}

/// An answer without when it was computed.
fn strip_times(answer: &Value) -> Value {
    let mut answer = answer.clone();
    if let Some(fields) = answer.as_object_mut() {
        fields.remove("computed_at");
    }
    answer
}

/// Runs the comparison script over the region's Parquet files.
fn compare(
    python: &Path,
    script: &Path,
    data_dir: &Path,
    from: &str,
    to: &str,
    runs: usize,
) -> Result<Value, CliError> {
    if !script.is_file() {
        return Err(fail(
            "compare",
            format!("{} not found (run from the repository or pass --script)", script.display()),
        ));
    }
    let output = std::process::Command::new(python)
        .arg(script)
        .arg(data_dir)
        .args([from, to, &runs.to_string()])
        .output()
        .map_err(|error| fail("run the comparison", error))?;
    if !output.status.success() {
        return Err(fail("the comparison", String::from_utf8_lossy(&output.stderr)));
    }
    serde_json::from_slice(&output.stdout).map_err(|error| fail("read the comparison", error))
}
