//! Tally's HTTP server: the only crate that knows HTTP. Routes, extractors, the mapping of
//! errors to statuses, request ids, metrics, security headers, TLS and graceful shutdown.
//!
//! Handlers stay thin: authenticate (an extractor), parse, call one domain function in
//! `tally-iam` (or later `tally-ingest`, `tally-query`), convert the result. No SQL here.

mod auth;
mod error;
mod extract;
mod metrics;
mod middleware;
mod routes;
mod server;

use std::sync::Arc;

use tally_config::Config;
use tally_iam::seal::Sealer;
use tally_iam::sessions::SessionPolicy;
use tally_store::Store;
use tally_types::SharedClock;

pub use error::ApiError;
pub use server::{BoundServer, ServeError};

/// Everything a handler may need, shared by all requests.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<StateInner>,
}

struct StateInner {
    store: Store,
    clock: SharedClock,
    sealer: Sealer,
    config: Config,
    sessions: SessionPolicy,
    metrics: metrics::Metrics,
}

impl AppState {
    pub fn new(store: Store, clock: SharedClock, sealer: Sealer, config: Config) -> AppState {
        AppState {
            inner: Arc::new(StateInner {
                store,
                clock,
                sealer,
                config,
                sessions: SessionPolicy::default(),
                metrics: metrics::Metrics::new(),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn clock(&self) -> &dyn tally_types::Clock {
        self.inner.clock.as_ref()
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    fn sealer(&self) -> &Sealer {
        &self.inner.sealer
    }

    fn session_policy(&self) -> SessionPolicy {
        self.inner.sessions
    }

    fn metrics(&self) -> &metrics::Metrics {
        &self.inner.metrics
    }
}

/// The whole application: routes plus the middleware every request goes through.
pub fn app(state: AppState) -> axum::Router {
    middleware::wrap(routes::router(), state)
}
