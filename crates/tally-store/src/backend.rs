//! What differs between the two databases: how to connect and which migrations to run.

pub(crate) mod postgres;
pub(crate) mod sqlite;

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// Builds a migrator from SQL files compiled into the binary, so that the binary alone
/// can create or upgrade its database.
fn embedded_migrator(files: &[(i64, &'static str, &'static str)]) -> Migrator {
    let migrations = files
        .iter()
        .map(|(version, description, sql)| {
            Migration::new(*version, Cow::Borrowed(*description), MigrationType::Simple, sql.into_sql_str(), false)
        })
        .collect();
    Migrator::with_migrations(migrations)
}
