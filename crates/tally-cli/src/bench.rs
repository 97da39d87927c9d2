//! `tally bench ingest`: drives a real `tally serve` (this binary, in a scratch data folder)
//! over HTTP on loopback and prints durable events/s, latency percentiles and the server's
//! memory. The baseline measured in the same run is the disk's own rate of small fsyncs,
//! since an acknowledgement waits for one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::commands::CliError;

/// What `tally bench ingest` runs.
pub(crate) struct IngestBench {
    pub seconds: u64,
    pub concurrency: usize,
    pub dir: Option<PathBuf>,
}

pub(crate) fn fail(context: &str, error: impl std::fmt::Display) -> CliError {
    CliError::Message(format!("bench: {context}: {error}"))
}

/// A scratch folder removed when the bench ends.
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The server under test, killed when dropped.
pub(crate) struct Server(pub(crate) std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Server {
    /// Resident and peak memory (kB) from /proc, where there is one.
    pub(crate) fn memory_kb(&self) -> Option<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0.id())).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find(|line| line.starts_with(name))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        };
        Some((field("VmRSS:")?, field("VmHWM:")?))
    }
}

pub(crate) fn tally(exe: &Path, data_dir: &Path, args: &[&str], stdin: Option<&str>) -> Result<Value, CliError> {
    let mut child = std::process::Command::new(exe)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("TALLY_LOG_LEVEL", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| fail("start tally", error))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).map_err(|error| fail("write to tally", error))?;
    }
    let output = child.wait_with_output().map_err(|error| fail("run tally", error))?;
    if !output.status.success() {
        return Err(fail(&args.join(" "), String::from_utf8_lossy(&output.stderr)));
    }
    serde_json::from_slice(&output.stdout).map_err(|error| fail("read tally's JSON", error))
}

/// A loopback port that is free now.
pub(crate) fn free_port() -> Result<u16, CliError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|error| fail("find a free port", error))
}

/// Starts `exe serve` on a free loopback port over `data_dir` and waits until it is ready;
/// returns it with its base URL.
pub(crate) async fn start_server(
    exe: &Path,
    data_dir: &Path,
    env: &[(&str, &str)],
    client: &reqwest::Client,
) -> Result<(Server, String), CliError> {
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let child = std::process::Command::new(exe)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir)
        .env("TALLY_LOG_LEVEL", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| fail("start the server", error))?;
    let server = Server(child);
    let started = Instant::now();
    loop {
        if let Ok(reply) = client.get(format!("{base}/readyz")).send().await
            && reply.status().is_success()
        {
            return Ok((server, base));
        }
        if started.elapsed() > Duration::from_secs(30) {
            return Err(fail("start the server", "not ready after 30 s"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Rate of 4 KiB appends each followed by fdatasync, for one second, in `dir`.
fn fsync_baseline(dir: &Path) -> Result<f64, CliError> {
    let path = dir.join("fsync-baseline");
    let mut file = std::fs::File::create(&path).map_err(|error| fail("fsync baseline", error))?;
    let block = [7u8; 4096];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(1) {
        file.write_all(&block).map_err(|error| fail("fsync baseline", error))?;
        file.sync_data().map_err(|error| fail("fsync baseline", error))?;
        n += 1;
    }
    let _ = std::fs::remove_file(&path);
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// Request bodies of `batch` events each, distinct `$insert_id`s across bodies.
fn bodies(batch: usize, count: usize, tag: &str, token: &str) -> Vec<bytes::Bytes> {
    let now = tally_types::Clock::now(&tally_types::SystemClock).as_second();
    (0..count)
        .map(|body| {
            let events: Vec<Value> = (0..batch)
                .map(|n| {
                    json!({
                        "event": if n % 3 == 0 { "Viewed Page" } else { "Played Song" },
                        "properties": {
                            "time": now,
                            "token": token,
                            "distinct_id": format!("user-{}", (body * batch + n) % 5000),
                            "$insert_id": format!("{tag}-{body}-{n}"),
                            "genre": "jazz",
                            "duration": 180 + n,
                            "$browser": "Chrome",
                            "premium": n % 2 == 0,
                        }
                    })
                })
                .collect();
            bytes::Bytes::from(serde_json::to_vec(&events).unwrap_or_default())
        })
        .collect()
}

struct Round {
    events: u64,
    requests: u64,
    refused: u64,
    seconds: f64,
    latencies_ms: Vec<f64>,
}

async fn round(
    client: &reqwest::Client,
    url: String,
    token: &str,
    batch: usize,
    concurrency: usize,
    seconds: u64,
) -> Round {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let client = client.clone();
        let url = url.clone();
        let token = token.to_string();
        let stop = stop.clone();
        let bodies = bodies(batch, 8, &format!("{batch}-{worker}-{}", start.elapsed().as_nanos()), &token);
        workers.push(tokio::spawn(async move {
            let (mut events, mut requests, mut refused, mut latencies) = (0u64, 0u64, 0u64, Vec::new());
            let mut next = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let body = bodies[next % bodies.len()].clone();
                next += 1;
                let sent = Instant::now();
                let reply = client
                    .post(&url)
                    .basic_auth(&token, Some(""))
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                let ok = match reply {
                    Ok(reply) if reply.status().is_success() => reply.bytes().await.is_ok(),
                    _ => false,
                };
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                requests += 1;
                if ok {
                    events += batch as u64;
                } else {
                    refused += 1;
                }
            }
            (events, requests, refused, latencies)
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = Round { events: 0, requests: 0, refused: 0, seconds: 0.0, latencies_ms: Vec::new() };
    for worker in workers {
        if let Ok((events, requests, refused, latencies)) = worker.await {
            total.events += events;
            total.requests += requests;
            total.refused += refused;
            total.latencies_ms.extend(latencies);
        }
    }
    total.seconds = start.elapsed().as_secs_f64();
    total.latencies_ms.sort_by(f64::total_cmp);
    total
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

pub(crate) async fn ingest(bench: IngestBench) -> Result<(), CliError> {
    let exe = std::env::current_exe().map_err(|error| fail("find this binary", error))?;
    let root = bench.dir.unwrap_or_else(std::env::temp_dir).join(format!("tally-bench-{}", std::process::id()));
    std::fs::create_dir_all(&root).map_err(|error| fail("create the scratch folder", error))?;
    let scratch = Scratch(root);
    let data_dir = scratch.0.join("data");

    let password = "bench password that is long enough";
    let created = tally(
        &exe,
        &data_dir,
        &["admin", "bootstrap", "--email", "bench@tally.invalid", "--org", "Bench", "--password-stdin", "--json"],
        Some(password),
    )?;
    let org = created["organization"]["id"].as_i64().ok_or_else(|| fail("bootstrap", "no organization id"))?;
    let project = tally(
        &exe,
        &data_dir,
        &["admin", "create-project", "--org", &org.to_string(), "--name", "Bench", "--json"],
        None,
    )?;
    let token = project["token"].as_str().ok_or_else(|| fail("create-project", "no token"))?.to_string();

    crate::commands::install_tls_provider();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(bench.concurrency)
        .build()
        .map_err(|error| fail("HTTP client", error))?;
    let (server, base) = start_server(&exe, &data_dir, &[], &client).await?;

    let fsyncs = fsync_baseline(&scratch.0)?;
    println!(
        "tally bench ingest: {} s per round, {} concurrent clients, server {base}",
        bench.seconds, bench.concurrency
    );
    println!("baseline: {fsyncs:.0} fsyncs/s (4 KiB append + fdatasync) on {}", scratch.0.display());
    println!(
        "{:<22} {:>12} {:>10} {:>9} {:>9} {:>9} {:>12} {:>12}",
        "round", "events/s", "requests", "refused", "p50 ms", "p99 ms", "RSS MiB", "peak MiB"
    );
    for (endpoint, batch) in [("/track", 50usize), ("/import", 2000usize)] {
        let result = round(&client, format!("{base}{endpoint}"), &token, batch, bench.concurrency, bench.seconds).await;
        let (rss, peak) = server.memory_kb().unwrap_or((0, 0));
        println!(
            "{:<22} {:>12.0} {:>10} {:>9} {:>9.2} {:>9.2} {:>12.0} {:>12.0}",
            format!("{endpoint} batch {batch}"),
            result.events as f64 / result.seconds,
            result.requests,
            result.refused,
            percentile(&result.latencies_ms, 0.50),
            percentile(&result.latencies_ms, 0.99),
            rss as f64 / 1024.0,
            peak as f64 / 1024.0,
        );
    }
    drop(server);
    Ok(())
}

/// What `tally bench export` runs.
pub(crate) struct ExportBench {
    pub events: usize,
    pub dir: Option<PathBuf>,
    /// Another `tally` binary to run as the server (to compare builds in one run).
    pub server: Option<PathBuf>,
}

/// The server's resident memory (kB), sampled until `stop`; returns the highest.
pub(crate) async fn sample_rss(pid: u32, stop: Arc<AtomicBool>) -> u64 {
    let mut peak = 0;
    while !stop.load(Ordering::Relaxed) {
        if let Some(kb) = std::fs::read_to_string(format!("/proc/{pid}/status")).ok().and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
        }) {
            peak = peak.max(kb);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    peak
}

/// One export: (lines, seconds, peak server RSS kB during it).
async fn timed_export(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    pid: u32,
) -> Result<(u64, f64, u64), CliError> {
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(sample_rss(pid, stop.clone()));
    let started = Instant::now();
    let mut response =
        client.get(url).basic_auth(secret, Some("")).send().await.map_err(|error| fail("export", error))?;
    if !response.status().is_success() {
        return Err(fail("export", response.status()));
    }
    let mut lines = 0u64;
    while let Some(chunk) = response.chunk().await.map_err(|error| fail("export body", error))? {
        lines += chunk.iter().filter(|byte| **byte == b'\n').count() as u64;
    }
    let seconds = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let peak = sampler.await.unwrap_or(0);
    Ok((lines, seconds, peak))
}

/// `tally bench export`: imports `events` events into a scratch server, lets it flush them
/// to Parquet, then times `/api/2.0/export` over all of them (and with `limit=10`) while
/// sampling the server's resident memory. The client reads the answer as it streams and
/// keeps none of it.
pub(crate) async fn export(bench: ExportBench) -> Result<(), CliError> {
    let exe = std::env::current_exe().map_err(|error| fail("find this binary", error))?;
    let server_exe = bench.server.clone().unwrap_or_else(|| exe.clone());
    let root = bench.dir.unwrap_or_else(std::env::temp_dir).join(format!("tally-bench-{}", std::process::id()));
    std::fs::create_dir_all(&root).map_err(|error| fail("create the scratch folder", error))?;
    let scratch = Scratch(root);
    let data_dir = scratch.0.join("data");
    let created = tally(
        &server_exe,
        &data_dir,
        &["admin", "bootstrap", "--email", "bench@tally.invalid", "--org", "Bench", "--password-stdin", "--json"],
        Some("bench password that is long enough"),
    )?;
    let project = &created["projects"][0];
    let Some(secret) = project["api_secret"].as_str().map(str::to_string) else {
        return Err(fail("bootstrap", "no project API secret"));
    };
    crate::commands::install_tls_provider();
    let client = reqwest::Client::builder().build().map_err(|error| fail("HTTP client", error))?;
    let (server, base) = start_server(&server_exe, &data_dir, &[("TALLY_INGEST_FLUSH_SECONDS", "2")], &client).await?;
    let pid = server.0.id();

    // Import: batches of 2000 with distinct ids, over the last three days.
    let now = tally_types::Clock::now(&tally_types::SystemClock).as_second();
    let import_started = Instant::now();
    let batches = bench.events.div_ceil(2000);
    for batch in 0..batches {
        let events: Vec<Value> = (0..2000.min(bench.events - batch * 2000))
            .map(|n| {
                let i = batch * 2000 + n;
                json!({
                    "event": if i % 3 == 0 { "Viewed Page" } else { "Played Song" },
                    "properties": {
                        "time": now - (i as i64 % 259_200),
                        "distinct_id": format!("user-{}", i % 20_000),
                        "$insert_id": format!("e{i}"),
                        "genre": "jazz",
                        "duration": 180 + i % 600,
                        "$browser": "Chrome",
                        "premium": i % 2 == 0,
                    }
                })
            })
            .collect();
        let reply = client
            .post(format!("{base}/import?strict=1"))
            .basic_auth(&secret, Some(""))
            .json(&events)
            .send()
            .await
            .map_err(|error| fail("import", error))?;
        if !reply.status().is_success() {
            return Err(fail("import", reply.text().await.unwrap_or_default()));
        }
    }
    let import_seconds = import_started.elapsed().as_secs_f64();
    // Two flush intervals: the events are in Parquet files, as a real export finds them.
    tokio::time::sleep(Duration::from_secs(5)).await;

    let today = tally_types::Clock::now(&tally_types::SystemClock);
    let day = |at: jiff::Timestamp| at.strftime("%Y-%m-%d").to_string();
    let from = day(today.checked_sub(jiff::SignedDuration::from_hours(24 * 5)).unwrap_or(today));
    let tomorrow = day(today.checked_add(jiff::SignedDuration::from_hours(24)).unwrap_or(today));
    let url = format!("{base}/api/2.0/export?from_date={from}&to_date={tomorrow}");
    let (rss_before, _) = server.memory_kb().unwrap_or((0, 0));
    println!("tally bench export: {} events imported in {import_seconds:.1} s, server {base}", bench.events);
    println!(
        "{:<22} {:>10} {:>9} {:>12} {:>14} {:>14} {:>12}",
        "export", "lines", "seconds", "lines/s", "RSS before MiB", "peak MiB", "growth MiB"
    );
    for (label, url) in [("all", url.clone()), ("limit=10", format!("{url}&limit=10"))] {
        let (lines, seconds, peak) = timed_export(&client, &url, &secret, pid).await?;
        println!(
            "{label:<22} {lines:>10} {seconds:>9.2} {:>12.0} {:>14.0} {:>14.0} {:>12.0}",
            lines as f64 / seconds,
            rss_before as f64 / 1024.0,
            peak as f64 / 1024.0,
            peak.saturating_sub(rss_before) as f64 / 1024.0,
        );
    }
    drop(server);
    Ok(())
}
