//! The `tally` binary: `serve`, `admin`, `migrate`, `config`. Parses the command line,
//! loads the configuration, and hands over to the library crates; no domain logic here.

mod admin;
mod bench;
mod bench_query;
mod commands;
mod logging;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Ingestion allocates and frees millions of small values per second from both cores;
/// glibc's allocator spent 40 % of the server's time on that in a profile, mimalloc a
/// fraction of it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "tally", version, about = "Self-hosted product analytics, compatible with Mixpanel's APIs")]
struct Cli {
    /// Config file (TOML). Also TALLY_CONFIG.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where Tally keeps its data. Also TALLY_DATA_DIR, `data_dir`.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on, such as 127.0.0.1:8080. Also TALLY_LISTEN, `listen`.
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Headless administration.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Apply metadata migrations and exit.
    Migrate,
    /// Run the scheduler of a query cluster (Apache Ballista): nodes whose `[query]
    /// cluster` names it send their reports here, and it spreads them over the executors.
    Scheduler {
        /// Address to listen on.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:50050")]
        listen: std::net::SocketAddr,
        /// The host name executors and nodes reach it by (default: the listen address's).
        #[arg(long, value_name = "HOST")]
        external_host: Option<String>,
    },
    /// Run an executor of a query cluster: it reads the regions' event files (the same
    /// bucket or shared folder the config names) and runs the scheduler's tasks.
    Executor {
        /// The scheduler, as HOST:PORT.
        #[arg(long, value_name = "HOST:PORT")]
        scheduler: String,
        /// Address for results and shuffles (Arrow Flight); tasks are asked of the scheduler.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:50051")]
        listen: std::net::SocketAddr,
        /// The host name the scheduler and nodes reach it by (default: the address it
        /// connects from).
        #[arg(long, value_name = "HOST")]
        external_host: Option<String>,
        /// Tasks at once (default: one per core).
        #[arg(long, default_value_t = 0)]
        tasks: usize,
    },
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Benchmarks against a real server (build with --release).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Starts `tally serve` in a scratch folder and sends it batches of 50 events to
    /// /track and of 2000 to /import from concurrent clients on loopback; prints durable
    /// events/s, p50/p99 latency and the server's memory.
    Ingest {
        /// Seconds per round.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Concurrent clients.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Where the scratch folder goes (default: the system's temporary folder); the
        /// disk under test.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Starts `tally serve` in a scratch folder, imports N events, lets them reach Parquet,
    /// then times the raw export (all of it, and limit=10) and samples the server's memory.
    Export {
        /// Events to import and export.
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        /// Where the scratch folder goes (default: the system's temporary folder).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Another tally binary to run as the server, to compare two builds in one run.
        #[arg(long, value_name = "TALLY")]
        server: Option<PathBuf>,
    },
    /// Generates a seeded data set (power-law users, sessions, a purchase funnel, 30 days),
    /// loads it through /import, waits for compaction, then times a filtered count, daily
    /// uniques, a 3-step funnel and a retention table over HTTP, and (with --python) the same
    /// questions in DuckDB and chDB over Tally's Parquet files; prints times, ratios, bytes
    /// per event and the server's memory.
    Query {
        /// Events to generate.
        #[arg(long, default_value_t = 30_000_000)]
        events: usize,
        /// Where the scratch folder goes (default: the system's temporary folder).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// A Python with duckdb (and chdb) to compare with; run from the repository.
        #[arg(long, value_name = "PYTHON")]
        python: Option<PathBuf>,
        /// Runs of each query; the best is printed.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// The comparison script.
        #[arg(long, value_name = "PATH", default_value = "tests/peers/bench_query.py")]
        script: PathBuf,
        /// Also start a query cluster on this machine (`tally scheduler` and two `tally
        /// executor`s) and time the same questions through it.
        #[arg(long)]
        cluster: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create an organization with its Owner and the projects Production and Development:
    /// the headless version of the setup link. Works while a server runs.
    Bootstrap {
        /// The Owner's e-mail; an existing account is reused.
        #[arg(long)]
        email: String,
        /// The organization's name.
        #[arg(long)]
        org: String,
        /// Read the new account's password from standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Create a project in an organization.
    CreateProject {
        #[arg(long)]
        org: i64,
        #[arg(long)]
        name: String,
        /// One of the configured regions; fixed for the project's life.
        #[arg(long)]
        region: Option<String>,
        /// IANA time zone (default UTC).
        #[arg(long)]
        timezone: Option<String>,
        /// production or development.
        #[arg(long)]
        environment: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Invite someone to an organization; prints the invitation link.
    Invite {
        #[arg(long)]
        org: i64,
        #[arg(long)]
        email: String,
        /// Organization role: owner, admin, billing_admin or member.
        #[arg(long, default_value = "member")]
        role: String,
        /// A project and role, as ID=ROLE; repeat for several.
        #[arg(long = "project", value_name = "ID=ROLE")]
        projects: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Change a member's organization role.
    SetOrgRole {
        #[arg(long)]
        org: i64,
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: String,
    },
    /// Give a member an individual role on a project.
    SetProjectRole {
        #[arg(long)]
        project: i64,
        #[arg(long)]
        email: String,
        /// owner, admin, analyst, consumer or custom:<id>.
        #[arg(long)]
        role: String,
    },
    /// Create a team, optionally with members and projects.
    CreateTeam {
        #[arg(long)]
        org: i64,
        #[arg(long)]
        name: String,
        /// A member's e-mail; repeat for several.
        #[arg(long = "member", value_name = "EMAIL")]
        members: Vec<String>,
        /// A project and role, as ID=ROLE; repeat for several.
        #[arg(long = "project", value_name = "ID=ROLE")]
        projects: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Create a service account; prints its secret once.
    CreateServiceAccount {
        #[arg(long)]
        org: i64,
        #[arg(long)]
        username: String,
        /// Organization role (default member).
        #[arg(long)]
        role: Option<String>,
        /// A project and role, as ID=ROLE; repeat for several.
        #[arg(long = "project", value_name = "ID=ROLE")]
        projects: Vec<String>,
        /// RFC 3339 expiry, such as 2027-01-31T00:00:00Z.
        #[arg(long)]
        expires: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration, secrets shown as ***.
    Print,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
