//! Structured logs on standard error, pretty for people or JSON for collectors.

use tally_config::{LogConfig, LogFormat};
use tracing_subscriber::EnvFilter;

pub(crate) fn init(config: &LogConfig) -> Result<(), String> {
    let filter = EnvFilter::try_new(&config.level)
        .map_err(|error| format!("invalid value for `log.level` ({:?}): {error}", config.level))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = match config.format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
    };
    result.map_err(|error| format!("cannot start logging: {error}"))
}
