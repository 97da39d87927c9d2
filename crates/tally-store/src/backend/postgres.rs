//! PostgreSQL, for several Tally nodes sharing one metadata database.

use std::str::FromStr;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tally_types::Secret;

use crate::StoreError;

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "foundation", include_str!("../../migrations/postgres/0001_foundation.sql")),
    (2, "access", include_str!("../../migrations/postgres/0002_access.sql")),
    (3, "sign_in", include_str!("../../migrations/postgres/0003_sign_in.sql")),
    (4, "sso", include_str!("../../migrations/postgres/0004_sso.sql")),
    (5, "oidc", include_str!("../../migrations/postgres/0005_oidc.sql")),
    (6, "event_files", include_str!("../../migrations/postgres/0006_event_files.sql")),
    (7, "scim", include_str!("../../migrations/postgres/0007_scim.sql")),
    (8, "saml", include_str!("../../migrations/postgres/0008_saml.sql")),
    (9, "hardening", include_str!("../../migrations/postgres/0009_hardening.sql")),
    (10, "boards", include_str!("../../migrations/postgres/0010_boards.sql")),
    (11, "data_views", include_str!("../../migrations/postgres/0011_data_views.sql")),
    (12, "privacy", include_str!("../../migrations/postgres/0012_privacy.sql")),
    (13, "alerts", include_str!("../../migrations/postgres/0013_alerts.sql")),
    (14, "lexicon", include_str!("../../migrations/postgres/0014_lexicon.sql")),
    (15, "event_columns", include_str!("../../migrations/postgres/0015_event_columns.sql")),
    (16, "nodes", include_str!("../../migrations/postgres/0016_nodes.sql")),
    (17, "forgets", include_str!("../../migrations/postgres/0017_forgets.sql")),
];

pub(crate) fn migrator() -> Migrator {
    super::embedded_migrator(MIGRATIONS)
}

/// `shown_location` is the URL with its password masked, for error messages.
pub(crate) async fn connect(
    url: &Secret<String>,
    shown_location: &str,
    max_connections: u32,
) -> Result<PgPool, StoreError> {
    let connect_error = |source| StoreError::Connect { location: shown_location.to_string(), source };
    let options = PgConnectOptions::from_str(url.expose()).map_err(connect_error)?;
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(connect_error)
}
