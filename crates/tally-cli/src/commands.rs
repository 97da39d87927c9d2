//! What each subcommand does.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use tally_config::{Config, Overrides};
use tally_iam::seal::Sealer;
use tally_iam::setup::{BootstrapRequest, Bootstrapped};
use tally_server::{AppState, BoundServer};
use tally_store::Store;
use tally_types::{Secret, SharedClock, SystemClock};

use crate::{AdminCommand, BenchCommand, Cli, Command, ConfigCommand, logging};

/// A failure that ends the command, printed as one line.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    #[error(transparent)]
    Config(#[from] tally_config::ConfigError),
    #[error("{0}")]
    Message(String),
    #[error(transparent)]
    Store(#[from] tally_store::StoreError),
    #[error(transparent)]
    Iam(#[from] tally_iam::IamError),
    #[error(transparent)]
    Authz(#[from] tally_iam::authz::AuthzError),
    #[error(transparent)]
    Serve(#[from] tally_server::ServeError),
}

pub(crate) async fn run(cli: Cli) -> Result<(), CliError> {
    let mut overrides = Overrides { config_file: cli.config, listen: None, data_dir: cli.data_dir };
    if let Command::Serve { listen } = &cli.command {
        overrides.listen = listen.clone();
    }
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let config = Config::load(&overrides, &env)?;
    match cli.command {
        Command::Serve { .. } => serve(config).await,
        Command::Migrate => migrate(&config).await,
        Command::Scheduler { listen, external_host } => {
            logging::init(&config.log).map_err(CliError::Message)?;
            let host = external_host.unwrap_or_else(|| listen.ip().to_string());
            let stores = cluster_stores(&config)?;
            println!("Tally's query scheduler is listening on df://{host}:{}", listen.port());
            tally_query::cluster::run_scheduler(listen, &host, &stores).await.map_err(CliError::Message)
        }
        Command::Executor { scheduler, listen, external_host, tasks } => {
            logging::init(&config.log).map_err(CliError::Message)?;
            let Some((host, port)) =
                scheduler.rsplit_once(':').and_then(|(host, port)| Some((host, port.parse().ok()?)))
            else {
                return Err(CliError::Message(format!(
                    "--scheduler {scheduler:?} is not HOST:PORT, such as 127.0.0.1:50050"
                )));
            };
            let settings = tally_query::cluster::ExecutorSettings {
                scheduler_host: host.to_string(),
                scheduler_port: port,
                listen,
                external_host,
                work_dir: config.data_dir.join(format!("executor-{}", listen.port())),
                memory_bytes: config.query.memory_mb.saturating_mul(1024 * 1024),
                tasks,
            };
            let stores = cluster_stores(&config)?;
            println!("Tally's query executor is listening on {listen} for the scheduler at {scheduler}");
            tally_query::cluster::run_executor(settings, &stores).await.map_err(CliError::Message)
        }
        Command::Config { command: ConfigCommand::Print } => {
            print!("{}", config.to_masked_toml());
            Ok(())
        }
        Command::Admin { command: AdminCommand::Bootstrap { email, org, password_stdin, json } } => {
            let password = if password_stdin { Some(read_password_from_stdin()?) } else { None };
            bootstrap(&config, BootstrapRequest { email, organization: org, password }, json).await
        }
        Command::Admin { command } => crate::admin::run(&config, command).await,
        Command::Bench { command: BenchCommand::Export { events, dir, server } } => {
            crate::bench::export(crate::bench::ExportBench { events: events.max(1), dir, server }).await
        }
        Command::Bench { command: BenchCommand::Query { events, dir, python, runs, script, cluster } } => {
            let bench = crate::bench_query::QueryBench { events: events.max(1000), dir, python, runs, script, cluster };
            crate::bench_query::query(bench).await
        }
        Command::Bench { command: BenchCommand::Ingest { seconds, concurrency, dir } } => {
            crate::bench::ingest(crate::bench::IngestBench { seconds, concurrency: concurrency.max(1), dir }).await
        }
    }
}

/// This node's id: the configured one, else the one kept in `<data_dir>/node-id` (made at
/// the first start, so it stays with the data dir).
fn node_id(config: &Config) -> Result<String, CliError> {
    if let Some(id) = &config.node.id {
        return Ok(id.clone());
    }
    let path = config.data_dir.join("node-id");
    match std::fs::read_to_string(&path) {
        Ok(text) if tally_config::is_plain_name(text.trim()) => Ok(text.trim().to_string()),
        Ok(text) => Err(CliError::Message(format!(
            "{} holds {:?}, which is not a node id (1 to 32 lowercase letters, digits or '-'); fix or remove it",
            path.display(),
            text.trim()
        ))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let id = format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
            std::fs::write(&path, format!("{id}\n"))
                .map_err(|error| CliError::Message(format!("cannot write {}: {error}", path.display())))?;
            tracing::info!(node = %id, "this node's id, kept in {}", path.display());
            Ok(id)
        }
        Err(error) => Err(CliError::Message(format!("cannot read {}: {error}", path.display()))),
    }
}

/// Where a region's event files live: under its folder, or in its S3-compatible bucket.
fn event_files(region: &tally_config::RegionConfig) -> Result<tally_events::EventFiles, CliError> {
    let Some(objects) = &region.objects else { return Ok(tally_events::EventFiles::Local) };
    // A few quick retries: a flush that fails is tried again with the next one (the log
    // keeps its events), and a start that cannot reach the bucket says so in seconds.
    let retry = object_store::RetryConfig {
        backoff: object_store::BackoffConfig::default(),
        max_retries: 3,
        retry_timeout: std::time::Duration::from_secs(20),
    };
    let mut builder =
        object_store::aws::AmazonS3Builder::from_env().with_bucket_name(&objects.bucket).with_retry(retry);
    if let Some(endpoint) = &objects.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(name) = &objects.region {
        builder = builder.with_region(name);
    }
    if let Some(key) = &objects.access_key_id {
        builder = builder.with_access_key_id(key);
    }
    if let Some(secret) = &objects.secret_access_key {
        builder = builder.with_secret_access_key(secret.expose());
    }
    if objects.allow_http {
        builder = builder.with_allow_http(true);
    }
    let bucket = builder
        .build()
        .map_err(|error| CliError::Message(format!("region {}: cannot use {}: {error}", region.name, objects.url())))?;
    let files: std::sync::Arc<dyn object_store::ObjectStore> = if objects.prefix.is_empty() {
        std::sync::Arc::new(bucket)
    } else {
        std::sync::Arc::new(tally_events::bucket::Folder::new(bucket, &objects.prefix))
    };
    Ok(tally_events::EventFiles::Objects(files))
}

/// Every region's event files, for a query cluster's scheduler and executors.
fn cluster_stores(config: &Config) -> Result<tally_query::cluster::Stores, CliError> {
    let mut stores = Vec::new();
    for region in &config.regions {
        let files = event_files(region)?.store(&region.storage).map_err(|error| {
            CliError::Message(format!("region {}: cannot read its event files: {error}", region.name))
        })?;
        stores.push((region.name.clone(), files));
    }
    Ok(tally_query::cluster::Stores::new(stores))
}

async fn serve(config: Config) -> Result<(), CliError> {
    logging::init(&config.log).map_err(CliError::Message)?;
    install_tls_provider();
    let _lock = prepare_data_dir(&config)?;
    let store = Store::open(&config.metadata.url, config.metadata.max_connections).await?;
    let sealer = Sealer::load_or_create(&config.secrets.key_file)?;
    let clock = clock_from_environment()?;
    let mailer = tally_server::mailer(&config).map_err(|error| CliError::Message(format!("mail: {error}")))?;
    let node = node_id(&config)?;
    let mut event_stores = std::collections::HashMap::new();
    for region in &config.regions {
        let files = event_files(region)?;
        let place = match &region.objects {
            Some(objects) => format!("{} and {}", region.storage.display(), objects.url()),
            None => region.storage.display().to_string(),
        };
        let events = tally_events::EventStore::open_with(
            &region.storage,
            files,
            &node,
            &region.name,
            store.clone(),
            clock.clone(),
        )
        .await
        .map_err(|error| {
            CliError::Message(format!(
                "cannot open the event storage of region {} at {place}: {error}; check that the folder is \
                         writable and the bucket reachable with the credentials given",
                region.name,
            ))
        })?;
        event_stores.insert(region.name.clone(), events);
    }
    let geoip = match &config.geoip_database {
        Some(path) => Some(tally_server::geo::GeoIp::open(path).map_err(CliError::Message)?),
        None => None,
    };
    let state = AppState::new(tally_iam::Directory::new(store.clone()), clock.clone(), sealer, mailer, config.clone())
        .with_event_stores(event_stores.clone())
        .with_geoip(geoip);
    let maintenance = tally_server::maintenance::spawn(state.clone());
    let privacy = tally_server::privacy::spawn(state.clone());
    let alerts = tally_server::alerts::spawn(state.clone());
    let usage = tally_server::usage::spawn(state.clone());
    let flush_every = std::time::Duration::from_secs(config.ingest.flush_seconds);
    let flushers: Vec<_> = event_stores.values().map(|events| events.spawn_maintenance(flush_every)).collect();
    let server = BoundServer::bind(state.clone()).await?;
    let local = server.local_addr();
    let scheme = if config.tls.is_some() { "https" } else { "http" };

    if let Some(token) = tally_iam::setup::issue_setup_link(&store, clock.as_ref()).await? {
        let link = format!("{}/setup?token={}", config.base_url(local), token.expose());
        // The operator needs this link; it is also logged for service managers that keep
        // only the log. It works once, for 24 hours, and only on an empty instance.
        tracing::info!(setup_url = %link, "instance is empty: open the setup link to create the first account");
        println!("Set up Tally at {link}");
    }
    tracing::info!(%local, metadata = %config.metadata.url, data_dir = %config.data_dir.display(), "tally is listening");
    println!("Tally is listening on {scheme}://{local}");

    server.run(shutdown_signal()).await?;
    maintenance.abort();
    privacy.abort();
    alerts.abort();
    usage.abort();
    tally_server::usage::write_pending(&state).await;
    for flusher in flushers {
        flusher.abort();
    }
    // What is in memory goes to files now, so the next start has no log to replay.
    for (region, events) in &event_stores {
        if let Err(error) = events.flush().await {
            tracing::error!(%region, %error, "cannot flush events on shutdown; they are replayed from the log on start");
        }
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn migrate(config: &Config) -> Result<(), CliError> {
    let store = Store::connect(&config.metadata.url, 1).await?;
    store.migrate().await?;
    let versions = store.applied_migrations().await?;
    println!("metadata database {} is at migration {}", config.metadata.url, versions.last().copied().unwrap_or(0));
    store.close().await;
    Ok(())
}

#[derive(Serialize)]
struct BootstrapJson {
    user: BootstrapUser,
    organization: BootstrapOrganization,
    projects: Vec<BootstrapProject>,
}

#[derive(Serialize)]
struct BootstrapUser {
    id: i64,
    email: String,
}

#[derive(Serialize)]
struct BootstrapOrganization {
    id: i64,
    name: String,
}

#[derive(Serialize)]
struct BootstrapProject {
    id: i64,
    name: String,
    token: String,
    api_secret: String,
}

async fn bootstrap(config: &Config, request: BootstrapRequest, json: bool) -> Result<(), CliError> {
    let store = Store::open(&config.metadata.url, 2).await?;
    let sealer = Sealer::load_or_create(&config.secrets.key_file)?;
    let Bootstrapped { tenant, api_secrets } =
        tally_iam::setup::bootstrap(&store, &SystemClock, &sealer, &request).await?;
    store.close().await;
    let projects: Vec<BootstrapProject> = tenant
        .projects
        .into_iter()
        .zip(api_secrets)
        .map(|(project, secret)| BootstrapProject {
            id: project.id.0,
            name: project.name,
            token: project.token,
            api_secret: secret.into_inner(),
        })
        .collect();
    let output = BootstrapJson {
        user: BootstrapUser { id: tenant.user.id.0, email: tenant.user.email },
        organization: BootstrapOrganization { id: tenant.organization.id.0, name: tenant.organization.name },
        projects,
    };
    if json {
        let text = serde_json::to_string(&output).map_err(|error| CliError::Message(error.to_string()))?;
        println!("{text}");
    } else {
        println!(
            "Created organization {:?} (id {}) owned by {}",
            output.organization.name, output.organization.id, output.user.email
        );
        for project in &output.projects {
            println!(
                "  project {:?} (id {}): token {}  API secret {}",
                project.name, project.id, project.token, project.api_secret
            );
        }
        println!("The API secrets are shown once here; Owners and Admins can view them later in project settings.");
    }
    Ok(())
}

fn read_password_from_stdin() -> Result<Secret<String>, CliError> {
    let mut text = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut text)
        .map_err(|error| CliError::Message(format!("cannot read the password from standard input: {error}")))?;
    let password = text.strip_suffix('\n').map(|rest| rest.strip_suffix('\r').unwrap_or(rest)).unwrap_or(&text);
    Ok(Secret::new(password.to_string()))
}

/// Creates the data folder and takes its lock, so that a second server on the same
/// folder stops instead of corrupting it. The lock lasts as long as the returned file.
fn prepare_data_dir(config: &Config) -> Result<File, CliError> {
    let data_dir = &config.data_dir;
    let unwritable = |path: &Path, error: std::io::Error| {
        CliError::Message(format!(
            "cannot write to the data dir {}: {error}; choose a writable folder with --data-dir or `data_dir`",
            path.display()
        ))
    };
    std::fs::create_dir_all(data_dir).map_err(|error| unwritable(data_dir, error))?;
    let events_dir: PathBuf = config.events_dir();
    std::fs::create_dir_all(&events_dir).map_err(|error| unwritable(&events_dir, error))?;
    let lock_path = config.lock_file();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|error| unwritable(&lock_path, error))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => Err(CliError::Message(format!(
            "another Tally server is using the data dir {} (it holds {}); stop it or choose another --data-dir",
            data_dir.display(),
            lock_path.display()
        ))),
        Err(std::fs::TryLockError::Error(error)) => Err(unwritable(&lock_path, error)),
    }
}

/// The wall clock, unless the test suite points `TALLY_TEST_CLOCK_FILE` at a file holding
/// the time (Unix seconds), which lets tests move time for expiry and lockout instead of
/// sleeping. Only debug builds (what the test suite runs) honour it: a release build that
/// finds it set refuses to start rather than trust a file for the time.
fn clock_from_environment() -> Result<SharedClock, CliError> {
    match std::env::var("TALLY_TEST_CLOCK_FILE") {
        Ok(path) if !path.is_empty() => test_clock(PathBuf::from(path)),
        _ => Ok(Arc::new(SystemClock)),
    }
}

#[cfg(debug_assertions)]
fn test_clock(path: PathBuf) -> Result<SharedClock, CliError> {
    tracing::warn!(path = %path.display(), "TEST CLOCK: time is read from a file; never use this outside the test suite");
    Ok(Arc::new(FileClock { path }))
}

#[cfg(not(debug_assertions))]
fn test_clock(_path: PathBuf) -> Result<SharedClock, CliError> {
    Err(CliError::Message(
        "TALLY_TEST_CLOCK_FILE is for the test suite's debug builds only; unset it to run this release build".into(),
    ))
}

/// Time read from a file on every call (tests only).
#[cfg(debug_assertions)]
#[derive(Debug)]
struct FileClock {
    path: PathBuf,
}

#[cfg(debug_assertions)]
impl tally_types::Clock for FileClock {
    fn now(&self) -> jiff::Timestamp {
        std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|text| text.trim().parse::<i64>().ok())
            .and_then(|seconds| jiff::Timestamp::from_second(seconds).ok())
            .unwrap_or_else(|| SystemClock.now())
    }
}

pub(crate) fn install_tls_provider() {
    // Fails only if a provider is already installed, which is what we want anyway.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Completes on SIGTERM (service managers) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C will stop the server");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
