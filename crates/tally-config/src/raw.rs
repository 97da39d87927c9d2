//! The unvalidated layers: what the file, the environment and the flags said, each value
//! remembering where it came from so that an error can name it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tally_types::Secret;
use url::Url;

use crate::{
    AuthConfig, Config, ConfigError, DatabaseUrl, HttpConfig, IngestConfig, InvitationsConfig, LogConfig, LogFormat,
    MailConfig, MailTransport, MetadataConfig, NodeConfig, ObjectStorage, QueryConfig, RegionConfig, RetentionConfig,
    SecretsConfig, SessionsConfig, SmsProvider, TlsConfig,
};

/// Every environment variable Tally reads, with the config key it sets.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("TALLY_LISTEN", "listen"),
    ("TALLY_DATA_DIR", "data_dir"),
    ("TALLY_PUBLIC_URL", "public_url"),
    ("TALLY_METADATA_URL", "metadata.url"),
    ("TALLY_METADATA_MAX_CONNECTIONS", "metadata.max_connections"),
    ("TALLY_LOG_FORMAT", "log.format"),
    ("TALLY_LOG_LEVEL", "log.level"),
    ("TALLY_HTTP_MAX_BODY_BYTES", "http.max_body_bytes"),
    ("TALLY_HTTP_REQUEST_TIMEOUT_SECS", "http.request_timeout_secs"),
    ("TALLY_HTTP_SHUTDOWN_GRACE_SECS", "http.shutdown_grace_secs"),
    ("TALLY_TLS_CERT", "tls.cert"),
    ("TALLY_TLS_KEY", "tls.key"),
    ("TALLY_SECRETS_KEY_FILE", "secrets.key_file"),
    ("TALLY_NODE_ID", "node.id"),
    ("TALLY_REGIONS", "regions"),
    ("TALLY_MAIL_TRANSPORT", "mail.transport"),
    ("TALLY_MAIL_SMTP_URL", "mail.smtp_url"),
    ("TALLY_MAIL_FROM", "mail.from"),
    ("TALLY_INVITATIONS_LIFETIME_DAYS", "invitations.lifetime_days"),
    ("TALLY_INVITATIONS_PER_DOMAIN_PER_HOUR", "invitations.per_domain_per_hour"),
    ("TALLY_INGEST_EVENTS_PER_SECOND_PER_PROJECT", "ingest.events_per_second_per_project"),
    ("TALLY_INGEST_FLUSH_SECONDS", "ingest.flush_seconds"),
    ("TALLY_QUERY_PER_HOUR", "query.per_hour"),
    ("TALLY_QUERY_CONCURRENT", "query.concurrent"),
    ("TALLY_QUERY_PUBLIC_PER_HOUR", "query.public_per_hour"),
    ("TALLY_QUERY_MEMORY_MB", "query.memory_mb"),
    ("TALLY_QUERY_CLUSTER", "query.cluster"),
    ("TALLY_QUERY_TIME_LIMIT_MS", "query.time_limit_ms"),
    ("TALLY_RETENTION_DELETED_ORGANIZATION_DAYS", "retention.deleted_organization_days"),
    ("TALLY_RETENTION_DELETED_PROJECT_DAYS", "retention.deleted_project_days"),
    ("TALLY_SESSIONS_IDLE_MINUTES", "sessions.idle_minutes"),
    ("TALLY_SESSIONS_ABSOLUTE_HOURS", "sessions.absolute_hours"),
    ("TALLY_AUTH_MAX_FAILURES_PER_ACCOUNT", "auth.max_failures_per_account"),
    ("TALLY_AUTH_MAX_FAILURES_PER_IP", "auth.max_failures_per_ip"),
    ("TALLY_AUTH_LOCKOUT_MINUTES", "auth.lockout_minutes"),
    ("TALLY_SMS_PROVIDER", "sms.provider"),
    ("TALLY_SMS_TWILIO_ACCOUNT_SID", "sms.twilio_account_sid"),
    ("TALLY_SMS_TWILIO_AUTH_TOKEN", "sms.twilio_auth_token"),
    ("TALLY_SMS_TWILIO_FROM", "sms.twilio_from"),
    ("TALLY_SMS_TWILIO_BASE_URL", "sms.twilio_base_url"),
    ("TALLY_SMS_WEBHOOK_URL", "sms.webhook_url"),
    ("TALLY_DNS_RESOLVER", "dns.resolver"),
    ("TALLY_SSO_OUTBOUND", "sso.outbound"),
    ("TALLY_GEOIP_DATABASE", "geoip.database"),
    ("TALLY_ALERTS_WEBHOOK_CA_FILE", "alerts.webhook_ca_file"),
];

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_DATA_DIR: &str = "./tally-data";
const DEFAULT_MAX_CONNECTIONS: u32 = 8;
const DEFAULT_MAX_BODY_BYTES: u64 = 10 * 1024 * 1024;
const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 60;
const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 30;

/// A value and where it came from ("tally.toml", "TALLY_LISTEN", "--listen").
#[derive(Debug, Clone)]
pub(crate) struct Sourced<T> {
    value: T,
    origin: String,
}

impl<T> Sourced<T> {
    pub(crate) fn new(value: T, origin: impl Into<String>) -> Self {
        Self { value, origin: origin.into() }
    }
}

/// The file as written. Unknown keys are refused by name.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    public_url: Option<String>,
    #[serde(default)]
    metadata: FileMetadata,
    #[serde(default)]
    log: FileLog,
    #[serde(default)]
    http: FileHttp,
    tls: Option<FileTls>,
    #[serde(default)]
    secrets: FileSecrets,
    #[serde(default)]
    node: FileNode,
    regions: Option<Vec<FileRegion>>,
    #[serde(default)]
    mail: FileMail,
    #[serde(default)]
    invitations: FileInvitations,
    #[serde(default)]
    ingest: FileIngest,
    #[serde(default)]
    query: FileQuery,
    #[serde(default)]
    retention: FileRetention,
    #[serde(default)]
    sessions: FileSessions,
    #[serde(default)]
    auth: FileAuth,
    #[serde(default)]
    sms: FileSms,
    #[serde(default)]
    dns: FileDns,
    #[serde(default)]
    sso: FileSso,
    #[serde(default)]
    geoip: FileGeoIp,
    #[serde(default)]
    alerts: FileAlerts,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAlerts {
    webhook_ca_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileGeoIp {
    database: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDns {
    resolver: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSso {
    outbound: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSessions {
    idle_minutes: Option<u64>,
    absolute_hours: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAuth {
    max_failures_per_account: Option<u64>,
    max_failures_per_ip: Option<u64>,
    lockout_minutes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSms {
    provider: Option<String>,
    twilio_account_sid: Option<String>,
    twilio_auth_token: Option<String>,
    twilio_from: Option<String>,
    twilio_base_url: Option<String>,
    webhook_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileRegion {
    name: String,
    /// A folder, or `s3://bucket/prefix` for the event files (the rest stays under the
    /// data directory).
    storage: Option<String>,
    s3_endpoint: Option<String>,
    s3_region: Option<String>,
    s3_access_key_id: Option<String>,
    s3_secret_access_key: Option<String>,
    s3_allow_http: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMail {
    transport: Option<String>,
    smtp_url: Option<String>,
    from: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileInvitations {
    lifetime_days: Option<u64>,
    per_domain_per_hour: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIngest {
    events_per_second_per_project: Option<u64>,
    flush_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileQuery {
    per_hour: Option<u64>,
    concurrent: Option<u64>,
    public_per_hour: Option<u64>,
    memory_mb: Option<u64>,
    time_limit_ms: Option<u64>,
    cluster: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRetention {
    deleted_organization_days: Option<u64>,
    deleted_project_days: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMetadata {
    url: Option<String>,
    max_connections: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLog {
    format: Option<String>,
    level: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHttp {
    max_body_bytes: Option<u64>,
    request_timeout_secs: Option<u64>,
    shutdown_grace_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTls {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSecrets {
    key_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileNode {
    id: Option<String>,
}

/// A region as listed (by name alone from the environment).
type RawRegion = FileRegion;

/// All layers merged, not yet validated.
#[derive(Debug, Default)]
pub(crate) struct RawConfig {
    pub(crate) listen: Option<Sourced<String>>,
    pub(crate) data_dir: Option<Sourced<PathBuf>>,
    public_url: Option<Sourced<String>>,
    metadata_url: Option<Sourced<String>>,
    metadata_max_connections: Option<Sourced<String>>,
    log_format: Option<Sourced<String>>,
    log_level: Option<Sourced<String>>,
    http_max_body_bytes: Option<Sourced<String>>,
    http_request_timeout_secs: Option<Sourced<String>>,
    http_shutdown_grace_secs: Option<Sourced<String>>,
    tls_cert: Option<Sourced<PathBuf>>,
    tls_key: Option<Sourced<PathBuf>>,
    secrets_key_file: Option<Sourced<PathBuf>>,
    node_id: Option<Sourced<String>>,
    regions: Option<Sourced<Vec<RawRegion>>>,
    mail_transport: Option<Sourced<String>>,
    mail_smtp_url: Option<Sourced<String>>,
    mail_from: Option<Sourced<String>>,
    invitations_lifetime_days: Option<Sourced<String>>,
    invitations_per_domain_per_hour: Option<Sourced<String>>,
    ingest_events_per_second_per_project: Option<Sourced<String>>,
    ingest_flush_seconds: Option<Sourced<String>>,
    query_per_hour: Option<Sourced<String>>,
    query_concurrent: Option<Sourced<String>>,
    query_public_per_hour: Option<Sourced<String>>,
    query_memory_mb: Option<Sourced<String>>,
    query_cluster: Option<Sourced<String>>,
    query_time_limit_ms: Option<Sourced<String>>,
    retention_deleted_organization_days: Option<Sourced<String>>,
    retention_deleted_project_days: Option<Sourced<String>>,
    sessions_idle_minutes: Option<Sourced<String>>,
    sessions_absolute_hours: Option<Sourced<String>>,
    auth_max_failures_per_account: Option<Sourced<String>>,
    auth_max_failures_per_ip: Option<Sourced<String>>,
    auth_lockout_minutes: Option<Sourced<String>>,
    sms_provider: Option<Sourced<String>>,
    sms_twilio_account_sid: Option<Sourced<String>>,
    sms_twilio_auth_token: Option<Sourced<String>>,
    sms_twilio_from: Option<Sourced<String>>,
    sms_twilio_base_url: Option<Sourced<String>>,
    sms_webhook_url: Option<Sourced<String>>,
    dns_resolver: Option<Sourced<String>>,
    sso_outbound: Option<Sourced<String>>,
    geoip_database: Option<Sourced<String>>,
    alerts_webhook_ca_file: Option<Sourced<String>>,
}

impl RawConfig {
    pub(crate) fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::ReadFile { path: path.to_path_buf(), source })?;
        let file: FileConfig = toml::from_str(&text).map_err(|error| ConfigError::Parse {
            path: path.to_path_buf(),
            message: error.to_string().trim().replace('\n', " "),
        })?;
        let origin = path.display().to_string();
        let at = |value| Sourced::new(value, origin.clone());
        let number = |value: u64| Sourced::new(value.to_string(), origin.clone());
        Ok(RawConfig {
            listen: file.listen.map(at),
            data_dir: file.data_dir.map(|value| Sourced::new(value, origin.clone())),
            public_url: file.public_url.map(at),
            metadata_url: file.metadata.url.map(at),
            metadata_max_connections: file.metadata.max_connections.map(|n| number(u64::from(n))),
            log_format: file.log.format.map(at),
            log_level: file.log.level.map(at),
            http_max_body_bytes: file.http.max_body_bytes.map(number),
            http_request_timeout_secs: file.http.request_timeout_secs.map(number),
            http_shutdown_grace_secs: file.http.shutdown_grace_secs.map(number),
            tls_cert: file
                .tls
                .as_ref()
                .and_then(|tls| tls.cert.clone())
                .map(|value| Sourced::new(value, origin.clone())),
            tls_key: file.tls.as_ref().and_then(|tls| tls.key.clone()).map(|value| Sourced::new(value, origin.clone())),
            secrets_key_file: file.secrets.key_file.map(|value| Sourced::new(value, origin.clone())),
            node_id: file.node.id.map(|value| Sourced::new(value, origin.clone())),
            regions: file.regions.map(|regions| Sourced::new(regions, origin.clone())),
            mail_transport: file.mail.transport.map(at),
            mail_smtp_url: file.mail.smtp_url.map(at),
            mail_from: file.mail.from.map(at),
            invitations_lifetime_days: file.invitations.lifetime_days.map(number),
            invitations_per_domain_per_hour: file.invitations.per_domain_per_hour.map(number),
            ingest_events_per_second_per_project: file.ingest.events_per_second_per_project.map(number),
            ingest_flush_seconds: file.ingest.flush_seconds.map(number),
            query_per_hour: file.query.per_hour.map(number),
            query_concurrent: file.query.concurrent.map(number),
            query_public_per_hour: file.query.public_per_hour.map(number),
            query_memory_mb: file.query.memory_mb.map(number),
            query_cluster: file.query.cluster.map(|value| Sourced::new(value, origin.clone())),
            query_time_limit_ms: file.query.time_limit_ms.map(number),
            retention_deleted_organization_days: file.retention.deleted_organization_days.map(number),
            retention_deleted_project_days: file.retention.deleted_project_days.map(number),
            sessions_idle_minutes: file.sessions.idle_minutes.map(number),
            sessions_absolute_hours: file.sessions.absolute_hours.map(number),
            auth_max_failures_per_account: file.auth.max_failures_per_account.map(number),
            auth_max_failures_per_ip: file.auth.max_failures_per_ip.map(number),
            auth_lockout_minutes: file.auth.lockout_minutes.map(number),
            sms_provider: file.sms.provider.map(at),
            sms_twilio_account_sid: file.sms.twilio_account_sid.map(at),
            sms_twilio_auth_token: file.sms.twilio_auth_token.map(at),
            sms_twilio_from: file.sms.twilio_from.map(at),
            sms_twilio_base_url: file.sms.twilio_base_url.map(at),
            sms_webhook_url: file.sms.webhook_url.map(at),
            dns_resolver: file.dns.resolver.map(at),
            sso_outbound: file.sso.outbound.map(at),
            geoip_database: file.geoip.database.map(at),
            alerts_webhook_ca_file: file.alerts.webhook_ca_file.map(at),
        })
    }

    /// Lays `TALLY_*` variables over the file. An unknown `TALLY_*` name is an error, so a
    /// typo does not silently leave a default in place.
    pub(crate) fn apply_env(&mut self, env: &BTreeMap<String, String>) -> Result<(), ConfigError> {
        for (name, value) in env {
            if !name.starts_with("TALLY_") || name == crate::CONFIG_PATH_ENV || name.starts_with(crate::TEST_ENV_PREFIX)
            {
                continue;
            }
            let Some((_, key)) = ENV_VARS.iter().find(|(known, _)| known == name) else {
                let known: Vec<&str> = ENV_VARS.iter().map(|(known, _)| *known).collect();
                return Err(ConfigError::UnknownEnv { name: name.clone(), known: known.join(", ") });
            };
            let text = Sourced::new(value.clone(), name.clone());
            let path = Sourced::new(PathBuf::from(value), name.clone());
            match *key {
                "listen" => self.listen = Some(text),
                "data_dir" => self.data_dir = Some(path),
                "public_url" => self.public_url = Some(text),
                "metadata.url" => self.metadata_url = Some(text),
                "metadata.max_connections" => self.metadata_max_connections = Some(text),
                "log.format" => self.log_format = Some(text),
                "log.level" => self.log_level = Some(text),
                "http.max_body_bytes" => self.http_max_body_bytes = Some(text),
                "http.request_timeout_secs" => self.http_request_timeout_secs = Some(text),
                "http.shutdown_grace_secs" => self.http_shutdown_grace_secs = Some(text),
                "tls.cert" => self.tls_cert = Some(path),
                "tls.key" => self.tls_key = Some(path),
                "secrets.key_file" => self.secrets_key_file = Some(path),
                "node.id" => self.node_id = Some(text),
                "regions" => {
                    let names = value
                        .split(',')
                        .map(|name| FileRegion { name: name.trim().to_string(), ..FileRegion::default() })
                        .collect();
                    self.regions = Some(Sourced::new(names, name.clone()));
                }
                "mail.transport" => self.mail_transport = Some(text),
                "mail.smtp_url" => self.mail_smtp_url = Some(text),
                "mail.from" => self.mail_from = Some(text),
                "invitations.lifetime_days" => self.invitations_lifetime_days = Some(text),
                "invitations.per_domain_per_hour" => self.invitations_per_domain_per_hour = Some(text),
                "ingest.events_per_second_per_project" => self.ingest_events_per_second_per_project = Some(text),
                "ingest.flush_seconds" => self.ingest_flush_seconds = Some(text),
                "query.per_hour" => self.query_per_hour = Some(text),
                "query.concurrent" => self.query_concurrent = Some(text),
                "query.public_per_hour" => self.query_public_per_hour = Some(text),
                "query.memory_mb" => self.query_memory_mb = Some(text),
                "query.cluster" => self.query_cluster = Some(text),
                "query.time_limit_ms" => self.query_time_limit_ms = Some(text),
                "retention.deleted_organization_days" => self.retention_deleted_organization_days = Some(text),
                "retention.deleted_project_days" => self.retention_deleted_project_days = Some(text),
                "sessions.idle_minutes" => self.sessions_idle_minutes = Some(text),
                "sessions.absolute_hours" => self.sessions_absolute_hours = Some(text),
                "auth.max_failures_per_account" => self.auth_max_failures_per_account = Some(text),
                "auth.max_failures_per_ip" => self.auth_max_failures_per_ip = Some(text),
                "auth.lockout_minutes" => self.auth_lockout_minutes = Some(text),
                "sms.provider" => self.sms_provider = Some(text),
                "sms.twilio_account_sid" => self.sms_twilio_account_sid = Some(text),
                "sms.twilio_auth_token" => self.sms_twilio_auth_token = Some(text),
                "sms.twilio_from" => self.sms_twilio_from = Some(text),
                "sms.twilio_base_url" => self.sms_twilio_base_url = Some(text),
                "sms.webhook_url" => self.sms_webhook_url = Some(text),
                "dns.resolver" => self.dns_resolver = Some(text),
                "sso.outbound" => self.sso_outbound = Some(text),
                "geoip.database" => self.geoip_database = Some(text),
                "alerts.webhook_ca_file" => self.alerts_webhook_ca_file = Some(text),
                _ => {}
            }
        }
        Ok(())
    }

    pub(crate) fn validate(self) -> Result<Config, ConfigError> {
        let listen_text = self.listen.unwrap_or_else(|| Sourced::new(DEFAULT_LISTEN.into(), "default"));
        let listen: SocketAddr = listen_text.value.parse().map_err(|_| ConfigError::Invalid {
            key: "listen",
            origin: listen_text.origin.clone(),
            message: format!("{:?} is not HOST:PORT, such as 127.0.0.1:8080", listen_text.value),
        })?;

        let data_dir = self.data_dir.map(|sourced| sourced.value).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        if data_dir.as_os_str().is_empty() {
            return Err(invalid("data_dir", "default", "must not be empty"));
        }

        let public_url = match self.public_url {
            None => None,
            Some(sourced) => {
                let url = Url::parse(&sourced.value)
                    .map_err(|error| invalid("public_url", &sourced.origin, &format!("not a URL: {error}")))?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(invalid("public_url", &sourced.origin, "must start with http:// or https://"));
                }
                Some(url)
            }
        };

        let metadata_url = match self.metadata_url {
            None => DatabaseUrl::sqlite_in(&data_dir),
            Some(sourced) => DatabaseUrl::parse(&sourced.value)
                .map_err(|message| invalid("metadata.url", &sourced.origin, &message))?,
        };
        let max_connections = parse_number(
            self.metadata_max_connections,
            "metadata.max_connections",
            u64::from(DEFAULT_MAX_CONNECTIONS),
            1,
            1000,
        )?;

        let log_format = match self.log_format {
            None => LogFormat::Pretty,
            Some(sourced) => match sourced.value.as_str() {
                "pretty" => LogFormat::Pretty,
                "json" => LogFormat::Json,
                other => {
                    return Err(invalid(
                        "log.format",
                        &sourced.origin,
                        &format!("{other:?} is not one of \"pretty\", \"json\""),
                    ));
                }
            },
        };
        let log_level = self.log_level.map(|sourced| sourced.value).unwrap_or_else(|| "info".into());

        let max_body_bytes =
            parse_number(self.http_max_body_bytes, "http.max_body_bytes", DEFAULT_MAX_BODY_BYTES, 1024, 1 << 30)?;
        let request_timeout_secs = parse_number(
            self.http_request_timeout_secs,
            "http.request_timeout_secs",
            DEFAULT_REQUEST_TIMEOUT_SECS,
            1,
            3600,
        )?;
        let shutdown_grace_secs = parse_number(
            self.http_shutdown_grace_secs,
            "http.shutdown_grace_secs",
            DEFAULT_SHUTDOWN_GRACE_SECS,
            0,
            3600,
        )?;

        let tls = match (self.tls_cert, self.tls_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(TlsConfig { cert: cert.value, key: key.value }),
            (Some(cert), None) => {
                return Err(invalid("tls.key", &cert.origin, "tls.cert is set, so tls.key must be set too"));
            }
            (None, Some(key)) => {
                return Err(invalid("tls.cert", &key.origin, "tls.key is set, so tls.cert must be set too"));
            }
        };

        let key_file =
            self.secrets_key_file.map(|sourced| sourced.value).unwrap_or_else(|| data_dir.join("secret.key"));

        let query_cluster = match self.query_cluster {
            None => None,
            Some(sourced) => {
                let url = sourced.value.trim().to_string();
                let host_and_port = url::Url::parse(&url)
                    .ok()
                    .filter(|parsed| parsed.scheme() == "df" && parsed.host_str().is_some() && parsed.port().is_some());
                if host_and_port.is_none() {
                    return Err(invalid(
                        "query.cluster",
                        &sourced.origin,
                        &format!("{url:?} is not a scheduler's address; write it as df://host:port"),
                    ));
                }
                Some(url)
            }
        };
        let node_id = match self.node_id {
            None => None,
            Some(sourced) => {
                let id = sourced.value.trim().to_string();
                if !is_plain_name(&id) {
                    return Err(invalid(
                        "node.id",
                        &sourced.origin,
                        &format!("{id:?} is not a node id (1 to 32 lowercase letters, digits or '-')"),
                    ));
                }
                Some(id)
            }
        };

        let regions = match self.regions {
            None => {
                vec![RegionConfig { name: "us".into(), storage: data_dir.join("events").join("us"), objects: None }]
            }
            Some(sourced) => {
                let mut regions: Vec<RegionConfig> = Vec::new();
                for region in sourced.value {
                    let name = region.name.clone();
                    if !is_plain_name(&name) {
                        return Err(invalid(
                            "regions",
                            &sourced.origin,
                            &format!("{name:?} is not a region name (lowercase letters, digits, '-')"),
                        ));
                    }
                    if regions.iter().any(|region| region.name == name) {
                        return Err(invalid("regions", &sourced.origin, &format!("{name:?} is listed twice")));
                    }
                    let local = data_dir.join("events").join(&name);
                    let (storage, objects) = match region.storage.clone() {
                        None => (local, None),
                        Some(url) if url.starts_with("s3://") => {
                            (local, Some(object_storage(&url, region, &sourced.origin)?))
                        }
                        Some(folder) => (PathBuf::from(folder), None),
                    };
                    regions.push(RegionConfig { name, storage, objects });
                }
                if regions.is_empty() {
                    return Err(invalid("regions", &sourced.origin, "list at least one region"));
                }
                regions
            }
        };

        let mail = match self.mail_transport.as_ref().map(|sourced| sourced.value.as_str()) {
            None | Some("log") => MailTransport::Log,
            Some("smtp") => {
                let Some(url) = self.mail_smtp_url else {
                    return Err(invalid(
                        "mail.smtp_url",
                        "mail.transport",
                        "mail.transport is \"smtp\", so mail.smtp_url must be set",
                    ));
                };
                if !(url.value.starts_with("smtp://") || url.value.starts_with("smtps://")) {
                    return Err(invalid("mail.smtp_url", &url.origin, "must start with smtp:// or smtps://"));
                }
                MailTransport::Smtp { url: tally_types::Secret::new(url.value) }
            }
            Some(other) => {
                let origin = self.mail_transport.as_ref().map(|s| s.origin.clone()).unwrap_or_default();
                return Err(invalid("mail.transport", &origin, &format!("{other:?} is not one of \"log\", \"smtp\"")));
            }
        };
        let mail_from = self.mail_from.map(|sourced| sourced.value).unwrap_or_else(|| "Tally <tally@localhost>".into());

        let invitation_lifetime_days =
            parse_number(self.invitations_lifetime_days, "invitations.lifetime_days", 7, 1, 365)?;
        let invitations_per_domain_per_hour =
            parse_number(self.invitations_per_domain_per_hour, "invitations.per_domain_per_hour", 10, 1, 100_000)?;
        let ingest_events_per_second_per_project = parse_number(
            self.ingest_events_per_second_per_project,
            "ingest.events_per_second_per_project",
            0,
            0,
            100_000_000,
        )?;
        let ingest_flush_seconds = parse_number(self.ingest_flush_seconds, "ingest.flush_seconds", 10, 1, 3600)?;
        let query_per_hour = parse_number(self.query_per_hour, "query.per_hour", 60, 0, 1_000_000)?;
        let query_concurrent = parse_number(self.query_concurrent, "query.concurrent", 5, 0, 10_000)?;
        let query_public_per_hour =
            parse_number(self.query_public_per_hour, "query.public_per_hour", 600, 0, 1_000_000)?;
        let query_memory_mb =
            parse_number(self.query_memory_mb, "query.memory_mb", default_query_memory_mb(), 64, 1_048_576)?;
        let query_time_limit_ms = parse_number(self.query_time_limit_ms, "query.time_limit_ms", 120_000, 1, 3_600_000)?;
        let deleted_organization_days =
            parse_number(self.retention_deleted_organization_days, "retention.deleted_organization_days", 90, 0, 3650)?;
        let deleted_project_days =
            parse_number(self.retention_deleted_project_days, "retention.deleted_project_days", 60, 0, 3650)?;

        let idle_minutes = parse_number(self.sessions_idle_minutes, "sessions.idle_minutes", 7 * 24 * 60, 1, 525_600)?;
        let absolute_hours = parse_number(self.sessions_absolute_hours, "sessions.absolute_hours", 30 * 24, 1, 87_600)?;
        let per_account =
            parse_number(self.auth_max_failures_per_account, "auth.max_failures_per_account", 5, 1, 1000)?;
        let per_ip = parse_number(self.auth_max_failures_per_ip, "auth.max_failures_per_ip", 50, 1, 100_000)?;
        let lockout_minutes = parse_number(self.auth_lockout_minutes, "auth.lockout_minutes", 15, 1, 1440)?;

        let required = |value: Option<Sourced<String>>, key: &'static str| {
            value
                .map(|sourced| sourced.value)
                .ok_or_else(|| invalid(key, "sms.provider", &format!("sms.provider needs {key} to be set")))
        };
        let check_url = |value: &str, key: &'static str| {
            Url::parse(value)
                .ok()
                .filter(|url| matches!(url.scheme(), "http" | "https"))
                .map(|_| ())
                .ok_or_else(|| invalid(key, key, &format!("{value:?} is not an http(s) URL")))
        };
        let sms = match self.sms_provider.as_ref().map(|sourced| sourced.value.clone()).as_deref() {
            None | Some("log") => SmsProvider::Log,
            Some("twilio") => {
                let base_url = self
                    .sms_twilio_base_url
                    .map(|sourced| sourced.value)
                    .unwrap_or_else(|| "https://api.twilio.com".into());
                check_url(&base_url, "sms.twilio_base_url")?;
                SmsProvider::Twilio {
                    account_sid: required(self.sms_twilio_account_sid, "sms.twilio_account_sid")?,
                    auth_token: tally_types::Secret::new(required(
                        self.sms_twilio_auth_token,
                        "sms.twilio_auth_token",
                    )?),
                    from: required(self.sms_twilio_from, "sms.twilio_from")?,
                    base_url,
                }
            }
            Some("webhook") => {
                let url = required(self.sms_webhook_url, "sms.webhook_url")?;
                check_url(&url, "sms.webhook_url")?;
                SmsProvider::Webhook { url }
            }
            Some(other) => {
                let origin = self.sms_provider.as_ref().map(|s| s.origin.clone()).unwrap_or_default();
                return Err(invalid(
                    "sms.provider",
                    &origin,
                    &format!("{other:?} is not one of \"log\", \"twilio\", \"webhook\""),
                ));
            }
        };

        let dns_resolver = match self.dns_resolver {
            None => None,
            Some(sourced) if sourced.value == "system" => None,
            Some(sourced) => Some(sourced.value.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    "dns.resolver",
                    &sourced.origin,
                    &format!("{:?} is not \"system\" or IP:PORT such as 127.0.0.1:53", sourced.value),
                )
            })?),
        };

        let sso_public_only = match self.sso_outbound {
            None => false,
            Some(sourced) if sourced.value == "any" => false,
            Some(sourced) if sourced.value == "public" => true,
            Some(sourced) => {
                return Err(invalid(
                    "sso.outbound",
                    &sourced.origin,
                    &format!("{:?} is not \"any\" or \"public\"", sourced.value),
                ));
            }
        };

        let geoip_database =
            self.geoip_database.map(|sourced| sourced.value).filter(|path| !path.is_empty()).map(PathBuf::from);
        let alerts_webhook_ca_file =
            self.alerts_webhook_ca_file.map(|sourced| sourced.value).filter(|path| !path.is_empty()).map(PathBuf::from);

        Ok(Config {
            dns_resolver,
            sso_public_only,
            geoip_database,
            alerts_webhook_ca_file,
            sessions: SessionsConfig {
                idle: Duration::from_secs(idle_minutes * 60),
                absolute: Duration::from_secs(absolute_hours * 3600),
            },
            auth: AuthConfig {
                max_failures_per_account: per_account,
                max_failures_per_ip: per_ip,
                lockout: Duration::from_secs(lockout_minutes * 60),
            },
            sms,
            regions,
            mail: MailConfig { transport: mail, from: mail_from },
            invitations: InvitationsConfig {
                lifetime: Duration::from_secs(invitation_lifetime_days * 86_400),
                per_domain_per_hour: invitations_per_domain_per_hour,
            },
            ingest: IngestConfig {
                events_per_second_per_project: ingest_events_per_second_per_project,
                flush_seconds: ingest_flush_seconds,
            },
            query: QueryConfig {
                per_hour: query_per_hour as u32,
                concurrent: query_concurrent as u32,
                public_per_hour: query_public_per_hour as u32,
                memory_mb: query_memory_mb,
                time_limit: std::time::Duration::from_millis(query_time_limit_ms),
                cluster: query_cluster,
            },
            retention: RetentionConfig {
                deleted_organization: Duration::from_secs(deleted_organization_days * 86_400),
                deleted_project: Duration::from_secs(deleted_project_days * 86_400),
            },
            listen,
            data_dir,
            public_url,
            metadata: MetadataConfig { url: metadata_url, max_connections: max_connections as u32 },
            log: LogConfig { format: log_format, level: log_level },
            http: HttpConfig {
                max_body_bytes: max_body_bytes as usize,
                request_timeout: Duration::from_secs(request_timeout_secs),
                shutdown_grace: Duration::from_secs(shutdown_grace_secs),
            },
            tls,
            secrets: SecretsConfig { key_file },
            node: NodeConfig { id: node_id },
        })
    }
}

fn invalid(key: &'static str, origin: &str, message: &str) -> ConfigError {
    ConfigError::Invalid { key, origin: origin.to_string(), message: message.to_string() }
}

/// Whether `text` can name a region or a node: 1 to 32 lowercase letters, digits or '-'.
pub fn is_plain_name(text: &str) -> bool {
    (1..=32).contains(&text.len()) && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A region's bucket from `s3://bucket/prefix` and its `s3_*` settings.
fn object_storage(url: &str, region: FileRegion, origin: &str) -> Result<ObjectStorage, ConfigError> {
    let rest = url.trim_start_matches("s3://").trim_end_matches('/');
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let valid = (3..=63).contains(&bucket.len())
        && bucket.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if !valid {
        return Err(invalid(
            "regions.storage",
            origin,
            &format!(
                "{url:?} does not name a bucket (s3://bucket/prefix, bucket of 3 to 63 lowercase letters, digits, '-' or '.')"
            ),
        ));
    }
    Ok(ObjectStorage {
        bucket: bucket.to_string(),
        prefix: prefix.trim_matches('/').to_string(),
        endpoint: region.s3_endpoint,
        region: region.s3_region,
        access_key_id: region.s3_access_key_id,
        secret_access_key: region.s3_secret_access_key.map(Secret::new),
        allow_http: region.s3_allow_http.unwrap_or(false),
    })
}

/// The query engine's default memory: a quarter of the machine's memory, from 512 MiB to
/// 4 GiB (1 GiB where the machine's memory cannot be read). DataFusion counts a distinct
/// count's sets at well above what they hold: daily unique users over 30 M events needed a
/// pool of 4 GiB while the server's RSS peaked at 1.26 GiB (docs/benchmarks.md).
fn default_query_memory_mb() -> u64 {
    let total_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|text| {
        let line = text.lines().find(|line| line.starts_with("MemTotal:"))?;
        line.split_whitespace().nth(1)?.parse::<u64>().ok()
    });
    match total_kib {
        Some(kib) => (kib / 1024 / 4).clamp(512, 4096),
        None => 1024,
    }
}

fn parse_number(
    value: Option<Sourced<String>>,
    key: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let Some(sourced) = value else { return Ok(default) };
    let number: u64 = sourced
        .value
        .trim()
        .parse()
        .map_err(|_| invalid(key, &sourced.origin, &format!("{:?} is not a whole number", sourced.value)))?;
    if !(min..=max).contains(&number) {
        return Err(invalid(key, &sourced.origin, &format!("{number} is outside {min}..={max}")));
    }
    Ok(number)
}
