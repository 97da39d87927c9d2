//! Tally's metadata store: organizations, users, projects, sessions and everything else
//! that is not event data, on SQLite (the embedded default) or PostgreSQL.
//!
//! One [`Store`] type serves both backends. Each query is written once in the SQL that both
//! understand and runs on the backend's native sqlx driver through [`with_pool!`]; what
//! differs (connection setup, migrations, column types) lives in `backend/`. The
//! conformance suite in `tests/it` runs every store operation against both.
//!
//! This crate knows nothing of HTTP or of who may do what: callers check permissions first.

mod access;
mod alerts;
mod audit;
mod backend;
mod boards;
mod custom_roles;
mod data_views;
mod event_files;
mod invitations;
mod lexicon;
mod model;
mod orgs;
mod privacy;
mod projects;
mod requests;
mod row;
mod scim;
mod service_accounts;
mod sessions;
mod setup;
mod signin;
mod sso;
mod teams;
mod tenants;

use jiff::Timestamp;
use sqlx::{PgPool, SqlitePool};
use tally_config::DatabaseUrl;

pub use access::{Grant, GrantSource, Grantee, OrgStanding, ProjectMember};
pub use alerts::{Alert, AlertCheck};
pub use audit::{AuditActor, AuditEntry, AuditFilter, AuditRecord};
pub use boards::{Annotation, AnnotationTag, Board, BoardCard, BoardShare, Bookmark, Cohort, LexiconEntry, PublicLink};
pub use custom_roles::{CustomRole, MAX_CUSTOM_ROLES};
pub use data_views::{ALL_PROJECT_DATA, DataView, DataViewMember};
pub use event_files::{EventFile, Forget};
pub use invitations::{Accepted, Invitation, InvitedProject, NewInvitation, email_domain};
pub use lexicon::LexiconSchema;
pub use model::*;
pub use orgs::{OrgMember, Plan, Usage};
pub use privacy::PrivacyRequest;
pub use projects::ProjectChanges;
pub use requests::AccessRequest;
pub use scim::ScimMember;
pub use service_accounts::{NewServiceAccount, ServiceAccount};
pub use signin::{EnrolledMethod, SecondFactor, SessionInfo, SmsCode};
pub use sso::{ClaimedDomain, SamlConnection, SsoConnection, SsoPendingLink, SsoState};
pub use teams::{Team, TeamMember, TeamProject};

/// Which database holds the metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A handle on the metadata database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: std::sync::Arc<Pool>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend()).finish()
    }
}

/// What went wrong in the store, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// A change refused by a rule of the data (a whole sentence that says what to do).
    #[error("{0}")]
    Refused(&'static str),
    #[error("the setup link is invalid, expired or already used")]
    SetupTokenRejected,
    #[error("cannot open the metadata database {location}: {source}")]
    Connect { location: String, source: sqlx::Error },
    #[error("cannot apply metadata migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the metadata database is unavailable: {0}")]
    Unavailable(sqlx::Error),
    #[error("metadata database error: {0}")]
    Database(sqlx::Error),
    #[error("corrupt metadata row: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => StoreError::Unavailable(error),
            _ => StoreError::Database(error),
        }
    }
}

/// Runs `$body` with `$pool` bound to the backend's native pool. The body is compiled
/// once per backend, so one query text serves both without a lowest-common-denominator
/// driver.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &*$store.pool {
            $crate::Pool::Sqlite($pool) => $body,
            $crate::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Begins a transaction that writes. On SQLite it is `BEGIN IMMEDIATE`: it takes the write
/// lock at once (waiting out another writer up to the busy timeout), so one that reads
/// before it writes cannot fail with "database is locked" because another connection
/// wrote after its read began.
pub(crate) trait BeginWriting {
    type Db: sqlx::Database;
    async fn begin_writing(&self) -> Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>;
}

impl BeginWriting for SqlitePool {
    type Db = sqlx::Sqlite;
    async fn begin_writing(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWriting for PgPool {
    type Db = sqlx::Postgres;
    async fn begin_writing(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.begin().await
    }
}

impl Store {
    /// Opens the database (creating a SQLite file and its folder if needed) without
    /// migrating it.
    pub async fn connect(url: &DatabaseUrl, max_connections: u32) -> Result<Store, StoreError> {
        let pool = match url {
            DatabaseUrl::Sqlite { path } => Pool::Sqlite(backend::sqlite::connect(path, max_connections).await?),
            DatabaseUrl::Postgres { url: secret_url } => {
                Pool::Postgres(backend::postgres::connect(secret_url, &url.to_string(), max_connections).await?)
            }
        };
        Ok(Store { pool: std::sync::Arc::new(pool) })
    }

    /// Opens and migrates: what every command but `tally migrate` wants.
    pub async fn open(url: &DatabaseUrl, max_connections: u32) -> Result<Store, StoreError> {
        let store = Store::connect(url, max_connections).await?;
        store.migrate().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        match &*self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies the backend's pending migrations; safe to run from several processes.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &*self.pool {
            Pool::Sqlite(pool) => backend::sqlite::migrator().run(pool).await?,
            Pool::Postgres(pool) => backend::postgres::migrator().run(pool).await?,
        }
        Ok(())
    }

    /// The newest migration version this build knows (the same on both backends).
    pub fn latest_migration() -> i64 {
        backend::sqlite::migrator().iter().map(|migration| migration.version).max().unwrap_or(0)
    }

    /// The migration versions applied, oldest first.
    pub async fn applied_migrations(&self) -> Result<Vec<i64>, StoreError> {
        let versions: Vec<i64> = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
                .fetch_all(pool)
                .await?
        });
        Ok(versions)
    }

    /// A round trip to the database, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await.map_err(StoreError::Unavailable)?;
        });
        Ok(())
    }

    /// Closes every connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }
}

fn millis(at: Timestamp) -> i64 {
    at.as_millisecond()
}

impl tally_types::Classified for StoreError {
    fn kind(&self) -> tally_types::ErrorKind {
        use tally_types::ErrorKind;
        match self {
            StoreError::NotFound => ErrorKind::NotFound,
            StoreError::Conflict(_) | StoreError::Refused(_) => ErrorKind::Conflict,
            StoreError::SetupTokenRejected => ErrorKind::InvalidInput,
            StoreError::Connect { .. } | StoreError::Unavailable(_) => ErrorKind::Unavailable,
            StoreError::Migrate(_) | StoreError::Database(_) | StoreError::Corrupt(_) => ErrorKind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            StoreError::NotFound => "not_found",
            StoreError::Conflict(_) | StoreError::Refused(_) => "conflict",
            StoreError::SetupTokenRejected => "setup_link_rejected",
            StoreError::Connect { .. } | StoreError::Unavailable(_) => "store_unavailable",
            StoreError::Migrate(_) | StoreError::Database(_) | StoreError::Corrupt(_) => "internal",
        }
    }
}
