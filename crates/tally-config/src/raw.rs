//! The unvalidated layers: what the file, the environment and the flags said, each value
//! remembering where it came from so that an error can name it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::{
    Config, ConfigError, DatabaseUrl, HttpConfig, LogConfig, LogFormat, MetadataConfig, SecretsConfig, TlsConfig,
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

        Ok(Config {
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
        })
    }
}

fn invalid(key: &'static str, origin: &str, message: &str) -> ConfigError {
    ConfigError::Invalid { key, origin: origin.to_string(), message: message.to_string() }
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
