//! The embedded default: one SQLite file in write-ahead-log mode.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::StoreError;

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "foundation", include_str!("../../migrations/sqlite/0001_foundation.sql")),
    (2, "access", include_str!("../../migrations/sqlite/0002_access.sql")),
    (3, "sign_in", include_str!("../../migrations/sqlite/0003_sign_in.sql")),
    (4, "sso", include_str!("../../migrations/sqlite/0004_sso.sql")),
    (5, "oidc", include_str!("../../migrations/sqlite/0005_oidc.sql")),
    (6, "event_files", include_str!("../../migrations/sqlite/0006_event_files.sql")),
    (7, "scim", include_str!("../../migrations/sqlite/0007_scim.sql")),
    (8, "saml", include_str!("../../migrations/sqlite/0008_saml.sql")),
    (9, "hardening", include_str!("../../migrations/sqlite/0009_hardening.sql")),
    (10, "boards", include_str!("../../migrations/sqlite/0010_boards.sql")),
    (11, "data_views", include_str!("../../migrations/sqlite/0011_data_views.sql")),
    (12, "privacy", include_str!("../../migrations/sqlite/0012_privacy.sql")),
    (13, "alerts", include_str!("../../migrations/sqlite/0013_alerts.sql")),
    (14, "lexicon", include_str!("../../migrations/sqlite/0014_lexicon.sql")),
    (15, "event_columns", include_str!("../../migrations/sqlite/0015_event_columns.sql")),
    (16, "nodes", include_str!("../../migrations/sqlite/0016_nodes.sql")),
    (17, "forgets", include_str!("../../migrations/sqlite/0017_forgets.sql")),
];

pub(crate) fn migrator() -> Migrator {
    super::embedded_migrator(MIGRATIONS)
}

pub(crate) async fn connect(path: &Path, max_connections: u32) -> Result<SqlitePool, StoreError> {
    let location = format!("sqlite://{}", path.display());
    let connect_error = |source| StoreError::Connect { location: location.clone(), source };
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|error| connect_error(sqlx::Error::Io(error)))?;
    }
    let options = SqliteConnectOptions::from_str("sqlite://")
        .map_err(connect_error)?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // WAL with NORMAL is durable across process crashes and loses at most the last
        // transactions on power loss; metadata writes are rare and re-doable.
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        // Another process (a `tally admin` command beside a running server) may hold the
        // write lock for a moment.
        .busy_timeout(Duration::from_secs(10));
    let pool = SqlitePoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(connect_error)?;
    Ok(pool)
}
