//! The metadata store as `tally-server` holds it: a [`Directory`] it can pass to this crate's
//! functions but not open. Every read or change of tenant data goes through a function here
//! that takes a capability (a permit, a data scope, the signed-in account); the few
//! system-level operations (readiness, purging expired rows, metering) are named methods.
//!
//! Functions that accept the store take `&impl Metadata`: the [`Directory`] from the server,
//! or the [`Store`] itself from the operator's CLI and this crate's own code. Only this
//! crate can turn either into a `Store` (the sealed key below).

use jiff::Timestamp;
use tally_store::{Store, StoreError};
use tally_types::ProjectId;

use crate::admin::{AccessSettings, Actor, Ctx};
use crate::mail::Mailer;
use crate::seal::Sealer;
use crate::sms::SmsSender;

mod sealed {
    /// Made only inside this crate: whoever holds the store's handle without this key
    /// cannot open it.
    pub struct Key(pub(super) ());

    pub trait Raw {
        fn raw(&self, key: Key) -> &tally_store::Store;
    }
}

/// Something that holds the metadata store: the [`Directory`] or the [`Store`].
pub trait Metadata: sealed::Raw + Sync {}

impl sealed::Raw for Store {
    fn raw(&self, _: sealed::Key) -> &Store {
        self
    }
}
impl Metadata for Store {}

impl sealed::Raw for Directory {
    fn raw(&self, _: sealed::Key) -> &Store {
        &self.store
    }
}
impl Metadata for Directory {}

/// The store inside `metadata`, for this crate's functions.
pub(crate) fn raw<M: Metadata + ?Sized>(metadata: &M) -> &Store {
    metadata.raw(sealed::Key(()))
}

/// The metadata store, closed to its holder: it passes the directory to this crate's
/// functions, which check what it may do.
///
/// ```
/// # async fn f(directory: &tally_iam::Directory) {
/// let _ = tally_iam::scim::authenticate(directory, "a token").await;
/// # }
/// ```
///
/// It cannot read records itself:
///
/// ```compile_fail
/// # async fn f(directory: &tally_iam::Directory) {
/// let _ = directory.organization(tally_types::OrgId(1)).await;
/// # }
/// ```
///
/// nor take the store out:
///
/// ```compile_fail
/// # fn f(directory: &tally_iam::Directory) {
/// let _ = &directory.store;
/// # }
/// ```
#[derive(Clone)]
pub struct Directory {
    store: Store,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Directory")
    }
}

impl Directory {
    pub fn new(store: Store) -> Directory {
        Directory { store }
    }

    /// What an administration operation needs, acting as `actor`.
    #[allow(clippy::too_many_arguments)]
    pub fn ctx<'a>(
        &'a self,
        clock: &'a dyn tally_types::Clock,
        sealer: &'a Sealer,
        mailer: &'a dyn Mailer,
        sms: &'a dyn SmsSender,
        settings: &'a AccessSettings,
        actor: &'a Actor,
    ) -> Ctx<'a> {
        Ctx { store: &self.store, clock, sealer, mailer, sms, settings, actor }
    }

    /// A round trip to the database (readiness checks).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }

    /// System upkeep: purges the projects and organizations deleted longer ago than their
    /// grace period (how many of each).
    pub async fn purge_expired(&self, now: Timestamp) -> Result<(u64, u64), StoreError> {
        self.store.purge_expired(now).await
    }

    /// System metering: adds events counted at ingestion to a project's month. The project
    /// came from the ingestion scope that accepted the events.
    pub async fn add_usage(&self, project_id: ProjectId, month: &str, n_events: i64) -> Result<(), StoreError> {
        self.store.add_usage(project_id, month, n_events).await
    }
}
