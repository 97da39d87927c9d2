//! Tally's configuration, read in two stages: built-in defaults, then `tally.toml`, then
//! `TALLY_*` environment variables, then command-line flags; validated once into a typed
//! [`Config`] before anything starts.
//!
//! This crate reads files and the environment handed to it, and nothing else: it opens no
//! database and binds no socket. Every environment variable is listed in [`ENV_VARS`].

mod raw;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use tally_types::Secret;
use url::Url;

pub use raw::{ENV_VARS, is_plain_name};

/// The environment variable that names the config file, like `--config`.
pub const CONFIG_PATH_ENV: &str = "TALLY_CONFIG";

/// `TALLY_TEST_*` variables belong to the test suite; the server ignores them.
pub const TEST_ENV_PREFIX: &str = "TALLY_TEST_";

/// A configuration problem, with the key or path to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    ReadFile { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("unknown environment variable {name}: known variables are {known}")]
    UnknownEnv { name: String, known: String },
    #[error("invalid value for `{key}` (from {origin}): {message}")]
    Invalid { key: &'static str, origin: String, message: String },
}

/// What the command line adds on top of the file and the environment.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// Root of everything Tally keeps on disk.
    pub data_dir: PathBuf,
    /// The address users reach Tally at, used in links; `None` means "derive from `listen`".
    pub public_url: Option<Url>,
    pub metadata: MetadataConfig,
    pub log: LogConfig,
    pub http: HttpConfig,
    pub tls: Option<TlsConfig>,
    pub secrets: SecretsConfig,
    pub node: NodeConfig,
    /// Data-residency regions projects can be created in; the first is the default.
    pub regions: Vec<RegionConfig>,
    pub mail: MailConfig,
    pub invitations: InvitationsConfig,
    pub ingest: IngestConfig,
    pub query: QueryConfig,
    pub retention: RetentionConfig,
    pub sessions: SessionsConfig,
    pub auth: AuthConfig,
    pub sms: SmsProvider,
    /// The DNS server domain claims are checked against; `None` for the system's.
    pub dns_resolver: Option<SocketAddr>,
    /// Identity-provider requests (OIDC discovery, SAML metadata) only to public addresses.
    pub sso_public_only: bool,
    /// A GeoIP2/GeoLite2 City database (.mmdb) for locating events; none: no geolocation.
    pub geoip_database: Option<PathBuf>,
    /// Certificate authorities (PEM) that alert webhook receivers may use besides the
    /// public ones.
    pub alerts_webhook_ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct SessionsConfig {
    /// A session ends after this long without a request.
    pub idle: Duration,
    /// A session ends this long after sign-in, however active.
    pub absolute: Duration,
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Failed sign-in steps for one account within `lockout` before it is locked for `lockout`.
    pub max_failures_per_account: u64,
    /// Likewise for one client address.
    pub max_failures_per_ip: u64,
    pub lockout: Duration,
}

/// Where SMS codes go.
#[derive(Debug, Clone)]
pub enum SmsProvider {
    /// Print them to the log (development).
    Log,
    /// Twilio's Messages API.
    Twilio { account_sid: String, auth_token: Secret<String>, from: String, base_url: String },
    /// POST `{"to": ..., "body": ...}` to a URL.
    Webhook { url: String },
}

#[derive(Debug, Clone)]
pub struct RegionConfig {
    pub name: String,
    /// Where this region's event data lives on this machine (its write-ahead log, snapshot
    /// and spill folder, and its event files unless `objects` is set); nothing of another
    /// region is written here.
    pub storage: PathBuf,
    /// The S3-compatible bucket holding the region's event files, when not `storage`.
    pub objects: Option<ObjectStorage>,
}

/// An S3-compatible bucket (and prefix) for a region's event files. What is not given here
/// comes from the usual AWS environment variables (`AWS_ACCESS_KEY_ID`, `AWS_REGION`,
/// `AWS_ENDPOINT`, ...).
#[derive(Debug, Clone)]
pub struct ObjectStorage {
    pub bucket: String,
    /// Without leading or trailing slashes; empty for the whole bucket.
    pub prefix: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret<String>>,
    /// Whether a plain-HTTP endpoint is allowed (a local S3 server).
    pub allow_http: bool,
}

impl ObjectStorage {
    /// `s3://bucket/prefix`.
    pub fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

#[derive(Debug, Clone)]
pub struct MailConfig {
    pub transport: MailTransport,
    /// The From header, such as `Tally <tally@example.com>`.
    pub from: String,
}

#[derive(Debug, Clone)]
pub enum MailTransport {
    /// Print messages to the log instead of sending them (development default).
    Log,
    Smtp {
        url: Secret<String>,
    },
}

#[derive(Debug, Clone)]
pub struct InvitationsConfig {
    pub lifetime: Duration,
    pub per_domain_per_hour: u64,
}

/// Mixpanel's Query API limits (its own are 60 per hour and 5 at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryConfig {
    /// Queries of Mixpanel's Query API one project may run per hour; 0 is no limit.
    pub per_hour: u32,
    /// Queries of one project running at once; 0 is no limit.
    pub concurrent: u32,
    /// Requests one public board link may answer per hour (its page and its reports); 0 is
    /// no limit.
    pub public_per_hour: u32,
    /// Memory all queries together may hold in the query engine's operators before they
    /// spill to disk (under `<data_dir>/query-spill`) or fail with a clear error.
    pub memory_mb: u64,
    /// How long one query may run before it is stopped with a clear error.
    pub time_limit: Duration,
    /// The scheduler of an Apache Ballista cluster (`df://host:port`, run by `tally
    /// scheduler`) that reports run on; none runs them in this process.
    pub cluster: Option<String>,
}

/// Ingestion limits.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Events (and profile updates) per second one project may send; 0 is no limit.
    pub events_per_second_per_project: u64,
    /// How often events in memory are written to Parquet files (seconds).
    pub flush_seconds: u64,
}

#[derive(Debug, Clone)]
pub struct RetentionConfig {
    /// How long a deleted organization stays recoverable before it is purged.
    pub deleted_organization: Duration,
    pub deleted_project: Duration,
}

#[derive(Debug, Clone)]
pub struct MetadataConfig {
    pub url: DatabaseUrl,
    pub max_connections: u32,
}

/// Where metadata lives. Its `Display` hides any password.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite { path: PathBuf },
    Postgres { url: Secret<String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter directive such as `info` or `info,tally_server=debug`.
    pub level: String,
}

#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub shutdown_grace: Duration,
}

#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// This process among several sharing one metadata database and bucket.
#[derive(Debug, Clone, Default)]
pub struct NodeConfig {
    /// The node's id (lowercase letters, digits, '-'); `None`: the one kept in
    /// `<data_dir>/node-id`, made at the first start.
    pub id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SecretsConfig {
    /// File holding the key that seals secrets at rest (API secrets, IdP client secrets).
    pub key_file: PathBuf,
}

impl Config {
    /// Reads the config file (from `overrides.config_file`, else `TALLY_CONFIG`, else none)
    /// and the given environment, and validates the result.
    pub fn load(overrides: &Overrides, env: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let file_path = overrides.config_file.clone().or_else(|| env.get(CONFIG_PATH_ENV).map(PathBuf::from));
        let mut raw = match &file_path {
            Some(path) => raw::RawConfig::from_file(path)?,
            None => raw::RawConfig::default(),
        };
        raw.apply_env(env)?;
        if let Some(listen) = &overrides.listen {
            raw.listen = Some(raw::Sourced::new(listen.clone(), "--listen"));
        }
        if let Some(data_dir) = &overrides.data_dir {
            raw.data_dir = Some(raw::Sourced::new(data_dir.clone(), "--data-dir"));
        }
        raw.validate()
    }

    /// Whether the server speaks HTTPS, directly or behind a proxy named by `public_url`.
    pub fn is_https(&self) -> bool {
        self.tls.is_some() || self.public_url.as_ref().is_some_and(|url| url.scheme() == "https")
    }

    /// The base URL that links given to users start with.
    pub fn base_url(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.as_str().trim_end_matches('/').to_string(),
            None => {
                let scheme = if self.tls.is_some() { "https" } else { "http" };
                format!("{scheme}://{bound}")
            }
        }
    }

    /// The effective configuration as TOML, secrets shown as `***`.
    pub fn to_masked_toml(&self) -> String {
        let view = view::ConfigView::from(self);
        toml::to_string_pretty(&view).unwrap_or_else(|error| format!("# cannot render: {error}\n"))
    }

    pub fn events_dir(&self) -> PathBuf {
        self.data_dir.join("events")
    }

    pub fn lock_file(&self) -> PathBuf {
        self.data_dir.join("tally.lock")
    }
}

impl DatabaseUrl {
    /// Parses `sqlite://PATH` (relative paths allowed) or `postgres://...`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(path) = text.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("a sqlite URL needs a path, such as sqlite://./tally-data/tally.db".into());
            }
            return Ok(DatabaseUrl::Sqlite { path: PathBuf::from(path) });
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Url::parse(text).map_err(|error| format!("not a valid PostgreSQL URL: {error}"))?;
            return Ok(DatabaseUrl::Postgres { url: Secret::new(text.to_string()) });
        }
        Err("expected a URL starting with sqlite:// or postgres://".into())
    }

    pub fn sqlite_in(data_dir: &Path) -> Self {
        DatabaseUrl::Sqlite { path: data_dir.join("tally.db") }
    }
}

impl DatabaseUrl {
    /// A URL with its password replaced by `***`, for showing.
    pub fn mask_url(text: &str) -> String {
        match Url::parse(text) {
            Ok(mut parsed) => {
                if parsed.password().is_some() {
                    // Only fails for URLs that cannot carry a password, which this one did.
                    let _ = parsed.set_password(Some("***"));
                }
                parsed.to_string()
            }
            Err(_) => "***".to_string(),
        }
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite { path } => write!(f, "sqlite://{}", path.display()),
            DatabaseUrl::Postgres { url } => f.write_str(&DatabaseUrl::mask_url(url.expose())),
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

mod view {
    //! The shape `tally config print` shows. Kept apart from [`super::Config`] so that a
    //! secret can only be printed by deciding to put it here.

    use serde::Serialize;

    use super::{Config, LogFormat, MailTransport, SmsProvider};

    #[derive(Serialize)]
    pub(super) struct ConfigView {
        listen: String,
        data_dir: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        public_url: Option<String>,
        metadata: MetadataView,
        log: LogView,
        http: HttpView,
        #[serde(skip_serializing_if = "Option::is_none")]
        tls: Option<TlsView>,
        secrets: SecretsView,
        #[serde(skip_serializing_if = "Option::is_none")]
        node: Option<NodeView>,
        regions: Vec<RegionView>,
        mail: MailView,
        invitations: InvitationsView,
        ingest: IngestView,
        query: QueryView,
        retention: RetentionView,
        sessions: SessionsView,
        auth: AuthView,
        sms: SmsView,
        dns: DnsView,
        sso: SsoView,
        geoip: GeoIpView,
        alerts: AlertsView,
    }

    #[derive(Serialize)]
    struct AlertsView {
        webhook_ca_file: String,
    }

    #[derive(Serialize)]
    struct GeoIpView {
        database: String,
    }

    #[derive(Serialize)]
    struct DnsView {
        resolver: String,
    }

    #[derive(Serialize)]
    struct SsoView {
        outbound: &'static str,
    }

    #[derive(Serialize)]
    struct SessionsView {
        idle_minutes: u64,
        absolute_hours: u64,
    }

    #[derive(Serialize)]
    struct AuthView {
        max_failures_per_account: u64,
        max_failures_per_ip: u64,
        lockout_minutes: u64,
    }

    #[derive(Serialize)]
    struct SmsView {
        provider: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        twilio_account_sid: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        twilio_auth_token: Option<&'static str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        twilio_from: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        twilio_base_url: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        webhook_url: Option<String>,
    }

    #[derive(Serialize)]
    struct RegionView {
        name: String,
        storage: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        event_files: Option<String>,
    }

    #[derive(Serialize)]
    struct MailView {
        transport: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        smtp_url: Option<String>,
        from: String,
    }

    #[derive(Serialize)]
    struct InvitationsView {
        lifetime_days: u64,
        per_domain_per_hour: u64,
    }

    #[derive(Serialize)]
    struct QueryView {
        per_hour: u32,
        concurrent: u32,
        public_per_hour: u32,
        memory_mb: u64,
        time_limit_ms: u128,
        #[serde(skip_serializing_if = "Option::is_none")]
        cluster: Option<String>,
    }

    #[derive(Serialize)]
    struct IngestView {
        events_per_second_per_project: u64,
        flush_seconds: u64,
    }

    #[derive(Serialize)]
    struct RetentionView {
        deleted_organization_days: u64,
        deleted_project_days: u64,
    }

    #[derive(Serialize)]
    struct MetadataView {
        url: String,
        max_connections: u32,
    }

    #[derive(Serialize)]
    struct LogView {
        format: LogFormat,
        level: String,
    }

    #[derive(Serialize)]
    struct HttpView {
        max_body_bytes: u64,
        request_timeout_secs: u64,
        shutdown_grace_secs: u64,
    }

    #[derive(Serialize)]
    struct TlsView {
        cert: String,
        key: String,
    }

    #[derive(Serialize)]
    struct SecretsView {
        key_file: String,
    }

    #[derive(Serialize)]
    struct NodeView {
        id: String,
    }

    impl From<&Config> for ConfigView {
        fn from(config: &Config) -> Self {
            ConfigView {
                listen: config.listen.to_string(),
                data_dir: config.data_dir.display().to_string(),
                public_url: config.public_url.as_ref().map(|url| url.to_string()),
                metadata: MetadataView {
                    url: config.metadata.url.to_string(),
                    max_connections: config.metadata.max_connections,
                },
                log: LogView { format: config.log.format, level: config.log.level.clone() },
                http: HttpView {
                    max_body_bytes: config.http.max_body_bytes as u64,
                    request_timeout_secs: config.http.request_timeout.as_secs(),
                    shutdown_grace_secs: config.http.shutdown_grace.as_secs(),
                },
                tls: config
                    .tls
                    .as_ref()
                    .map(|tls| TlsView { cert: tls.cert.display().to_string(), key: tls.key.display().to_string() }),
                secrets: SecretsView { key_file: config.secrets.key_file.display().to_string() },
                node: config.node.id.clone().map(|id| NodeView { id }),
                regions: config
                    .regions
                    .iter()
                    .map(|region| RegionView {
                        name: region.name.clone(),
                        storage: region.storage.display().to_string(),
                        event_files: region.objects.as_ref().map(crate::ObjectStorage::url),
                    })
                    .collect(),
                mail: match &config.mail.transport {
                    MailTransport::Log => MailView { transport: "log", smtp_url: None, from: config.mail.from.clone() },
                    MailTransport::Smtp { url } => MailView {
                        transport: "smtp",
                        smtp_url: Some(super::DatabaseUrl::mask_url(url.expose())),
                        from: config.mail.from.clone(),
                    },
                },
                invitations: InvitationsView {
                    lifetime_days: config.invitations.lifetime.as_secs() / 86_400,
                    per_domain_per_hour: config.invitations.per_domain_per_hour,
                },
                ingest: IngestView {
                    events_per_second_per_project: config.ingest.events_per_second_per_project,
                    flush_seconds: config.ingest.flush_seconds,
                },
                query: QueryView {
                    per_hour: config.query.per_hour,
                    concurrent: config.query.concurrent,
                    public_per_hour: config.query.public_per_hour,
                    memory_mb: config.query.memory_mb,
                    time_limit_ms: config.query.time_limit.as_millis(),
                    cluster: config.query.cluster.clone(),
                },
                alerts: AlertsView {
                    webhook_ca_file: config
                        .alerts_webhook_ca_file
                        .as_ref()
                        .map(|path| path.display().to_string())
                        .unwrap_or_default(),
                },
                geoip: GeoIpView {
                    database: config.geoip_database.as_ref().map(|path| path.display().to_string()).unwrap_or_default(),
                },
                dns: DnsView {
                    resolver: config.dns_resolver.map(|addr| addr.to_string()).unwrap_or_else(|| "system".into()),
                },
                sso: SsoView { outbound: if config.sso_public_only { "public" } else { "any" } },
                sessions: SessionsView {
                    idle_minutes: config.sessions.idle.as_secs() / 60,
                    absolute_hours: config.sessions.absolute.as_secs() / 3600,
                },
                auth: AuthView {
                    max_failures_per_account: config.auth.max_failures_per_account,
                    max_failures_per_ip: config.auth.max_failures_per_ip,
                    lockout_minutes: config.auth.lockout.as_secs() / 60,
                },
                sms: match &config.sms {
                    SmsProvider::Log => SmsView {
                        provider: "log",
                        twilio_account_sid: None,
                        twilio_auth_token: None,
                        twilio_from: None,
                        twilio_base_url: None,
                        webhook_url: None,
                    },
                    SmsProvider::Twilio { account_sid, from, base_url, .. } => SmsView {
                        provider: "twilio",
                        twilio_account_sid: Some(account_sid.clone()),
                        twilio_auth_token: Some("***"),
                        twilio_from: Some(from.clone()),
                        twilio_base_url: Some(base_url.clone()),
                        webhook_url: None,
                    },
                    SmsProvider::Webhook { url } => SmsView {
                        provider: "webhook",
                        twilio_account_sid: None,
                        twilio_auth_token: None,
                        twilio_from: None,
                        twilio_base_url: None,
                        webhook_url: Some(super::DatabaseUrl::mask_url(url)),
                    },
                },
                retention: RetentionView {
                    deleted_organization_days: config.retention.deleted_organization.as_secs() / 86_400,
                    deleted_project_days: config.retention.deleted_project.as_secs() / 86_400,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests;
