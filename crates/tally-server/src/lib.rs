//! Tally's HTTP server: the only crate that knows HTTP. Routes, extractors, the mapping of
//! errors to statuses, request ids, metrics, security headers, TLS and graceful shutdown.
//!
//! Handlers stay thin: authenticate (an extractor), parse, call one domain function in
//! `tally-iam` (or later `tally-ingest`, `tally-query`), convert the result. No SQL here.

mod access;
pub mod alerts;
mod auth;
mod error;
mod extract;
pub mod geo;
mod ingest_limit;
pub mod maintenance;
mod metrics;
mod middleware;
pub mod privacy;
mod query_limit;
mod routes;
mod server;
pub mod usage;

use std::sync::Arc;

use tally_config::Config;
use tally_iam::Directory;
use tally_iam::admin::{AccessSettings, Actor, Ctx};
use tally_iam::mail::SharedMailer;
use tally_iam::seal::Sealer;
use tally_iam::sessions::SessionPolicy;
use tally_iam::sms::SmsSender;
use tally_types::SharedClock;

pub use access::{Requirement, RouteSpec};
pub use error::ApiError;
pub use server::{BoundServer, ServeError};

/// Everything a handler may need, shared by all requests.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<StateInner>,
}

#[derive(Clone)]
struct StateInner {
    directory: Directory,
    clock: SharedClock,
    sealer: Sealer,
    config: Config,
    metrics: metrics::Metrics,
    mailer: SharedMailer,
    sms: Arc<dyn SmsSender>,
    access: AccessSettings,
    inventory: Vec<RouteSpec>,
    /// Event storage of each region this node serves.
    events: Arc<std::collections::HashMap<String, tally_events::EventStore>>,
    ingest_limit: Arc<ingest_limit::ProjectLimiter>,
    query_limits: Arc<query_limit::QueryLimits>,
    /// Per public board link: so many requests an hour, four at once.
    public_limits: Arc<query_limit::QueryLimits>,
    /// The query engine's memory pool and spill folder (`None` when the folder could not be
    /// made: queries then share each region's export runtime).
    query_runtime: Option<tally_query::QueryRuntime>,
    /// Answers kept for questions asked again (shared by every request's engine).
    answer_cache: Arc<tally_query::AnswerCache>,
    geoip: Option<Arc<geo::GeoIp>>,
    pending_usage: Arc<usage::PendingUsage>,
    /// Each project's dropped events, as ingestion reads them (cleared when one changes).
    dropped_events: Arc<std::sync::RwLock<std::collections::HashMap<i64, Arc<std::collections::HashSet<String>>>>>,
}

impl AppState {
    pub fn new(
        directory: Directory,
        clock: SharedClock,
        sealer: Sealer,
        mailer: SharedMailer,
        config: Config,
    ) -> AppState {
        let access = access_settings(&config, None);
        let sms = sms_sender(&config);
        let ingest_limit = Arc::new(ingest_limit::ProjectLimiter::new(config.ingest.events_per_second_per_project));
        let query_limits = query_limit::QueryLimits::new(config.query.per_hour, config.query.concurrent);
        let public_limits = query_limit::QueryLimits::new(config.query.public_per_hour, 4);
        let memory = usize::try_from(config.query.memory_mb.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX);
        let query_runtime = match tally_query::QueryRuntime::new(&config.data_dir.join("query-spill"), memory) {
            Ok(runtime) => Some(runtime),
            Err(error) => {
                tracing::warn!(%error, "no spill folder for queries; they share the export's memory pool");
                None
            }
        };
        AppState {
            inner: Arc::new(StateInner {
                directory,
                clock,
                sealer,
                config,
                metrics: metrics::Metrics::new(),
                mailer,
                sms,
                access,
                inventory: routes::build().1,
                events: Arc::new(std::collections::HashMap::new()),
                ingest_limit,
                query_limits,
                public_limits,
                query_runtime,
                answer_cache: Arc::default(),
                geoip: None,
                pending_usage: Arc::default(),
                dropped_events: Arc::default(),
            }),
        }
    }

    /// The same state with the event storage of the regions this node serves.
    pub fn with_event_stores(self, stores: std::collections::HashMap<String, tally_events::EventStore>) -> AppState {
        let mut inner = (*self.inner).clone();
        inner.events = Arc::new(stores);
        AppState { inner: Arc::new(inner) }
    }

    /// The same state locating events with a GeoIP database.
    pub fn with_geoip(self, geoip: Option<geo::GeoIp>) -> AppState {
        let mut inner = (*self.inner).clone();
        inner.geoip = geoip.map(Arc::new);
        AppState { inner: Arc::new(inner) }
    }

    pub(crate) fn geoip(&self) -> Option<&geo::GeoIp> {
        self.inner.geoip.as_deref()
    }

    /// Ingestion counts not yet written to the metadata store.
    pub(crate) fn pending_usage(&self) -> &usage::PendingUsage {
        &self.inner.pending_usage
    }

    /// Per-project ingestion rate limits.
    /// The events whose new data `scope`'s project does not store (read once, then kept
    /// until a drop changes).
    pub(crate) async fn dropped_events(
        &self,
        scope: &tally_iam::authz::IngestScope,
    ) -> Result<Arc<std::collections::HashSet<String>>, tally_iam::records::StoreError> {
        let project_id = scope.project_id().0;
        if let Some(found) =
            self.inner.dropped_events.read().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&project_id)
        {
            return Ok(Arc::clone(found));
        }
        let dropped = Arc::new(tally_iam::reports::dropped_events(self.directory(), scope).await?);
        self.inner
            .dropped_events
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(project_id, Arc::clone(&dropped));
        Ok(dropped)
    }

    /// Forgets a project's dropped events after one changed.
    pub(crate) fn forget_dropped_events(&self, project_id: i64) {
        self.inner.dropped_events.write().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&project_id);
    }

    pub(crate) fn public_limits(&self) -> &Arc<query_limit::QueryLimits> {
        &self.inner.public_limits
    }

    pub(crate) fn query_limits(&self) -> &Arc<query_limit::QueryLimits> {
        &self.inner.query_limits
    }

    pub(crate) fn ingest_limit(&self) -> &ingest_limit::ProjectLimiter {
        &self.inner.ingest_limit
    }

    /// The event storage of a region, if this node serves it.
    pub(crate) fn event_store(&self, region: &str) -> Option<&tally_events::EventStore> {
        self.inner.events.get(region)
    }

    /// The event storage of a data scope's project, or 421 when its region is served
    /// elsewhere.
    /// The data scope of a read by the permit's holder, through the data view `view` asks for
    /// (a view the holder may not open is not found).
    pub(crate) async fn data_scope<P: tally_types::permissions::ProjectMarker>(
        &self,
        permit: &tally_iam::authz::ProjectPermit<'_, P>,
        view: &crate::extract::ViewChoice,
    ) -> Result<tally_iam::authz::DataScope<P>, ApiError> {
        Ok(tally_iam::views::data_scope(self.directory(), permit, view.0).await?)
    }

    /// The event storage's failure to read, as the API's error (retry later).
    pub(crate) fn storage_unavailable(error: tally_events::StorageError) -> ApiError {
        ApiError::new(tally_types::ErrorKind::Unavailable, "storage_unavailable", error.to_string())
    }

    pub(crate) fn events_of<P: tally_types::permissions::ProjectMarker>(
        &self,
        scope: &tally_iam::authz::DataScope<P>,
    ) -> Result<&tally_events::EventStore, ApiError> {
        let region = &scope.project().region;
        self.event_store(region).ok_or_else(|| ApiError::misdirected(region))
    }

    /// The query engine over a data scope's project, or 421 when its region is served
    /// elsewhere.
    pub(crate) fn query_engine_of<P: tally_types::permissions::ProjectMarker>(
        &self,
        scope: &tally_iam::authz::DataScope<P>,
    ) -> Result<tally_query::QueryEngine, ApiError> {
        let region = &scope.project().region;
        self.query_engine(region).ok_or_else(|| ApiError::misdirected(region))
    }

    /// The query engine over a region's events on this node (cheap: it shares the store and
    /// its runtime).
    pub(crate) fn query_engine(&self, region: &str) -> Option<tally_query::QueryEngine> {
        let events = self.event_store(region)?;
        Some(
            tally_query::QueryEngine::new(
                events.clone(),
                Arc::clone(&self.inner.clock),
                self.inner.query_runtime.as_ref(),
            )
            .with_time_limit(self.inner.config.query.time_limit)
            .with_cache(Arc::clone(&self.inner.answer_cache))
            .with_cluster(self.inner.config.query.cluster.as_deref()),
        )
    }

    /// The same state with links pointing at the address the server actually bound.
    pub fn with_bound_address(self, bound: std::net::SocketAddr) -> AppState {
        let mut inner = (*self.inner).clone();
        inner.access = access_settings(&inner.config, Some(bound));
        AppState { inner: Arc::new(inner) }
    }

    /// What an administration operation needs, acting as `actor`.
    pub(crate) fn ctx<'a>(&'a self, actor: &'a Actor) -> Ctx<'a> {
        self.inner.directory.ctx(
            self.inner.clock.as_ref(),
            &self.inner.sealer,
            self.inner.mailer.as_ref(),
            self.inner.sms.as_ref(),
            &self.inner.access,
            actor,
        )
    }

    /// Every route with its requirement.
    pub fn inventory(&self) -> &[RouteSpec] {
        &self.inner.inventory
    }

    /// The metadata store, opened only by `tally-iam`'s functions.
    pub fn directory(&self) -> &Directory {
        &self.inner.directory
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
        self.inner.access.sessions
    }

    fn metrics(&self) -> &metrics::Metrics {
        &self.inner.metrics
    }
}

/// The whole application: routes plus the middleware every request goes through.
pub fn app(state: AppState) -> axum::Router {
    middleware::wrap(routes::build().0, state)
}

/// The mailer the configuration names.
pub fn mailer(config: &Config) -> Result<SharedMailer, tally_iam::mail::MailError> {
    Ok(match &config.mail.transport {
        tally_config::MailTransport::Log => Arc::new(tally_iam::mail::LogMailer),
        tally_config::MailTransport::Smtp { url } => {
            Arc::new(tally_iam::mail::SmtpMailer::new(url, &config.mail.from)?)
        }
    })
}

/// The SMS sender the configuration names.
pub fn sms_sender(config: &Config) -> Arc<dyn SmsSender> {
    match &config.sms {
        tally_config::SmsProvider::Log => Arc::new(tally_iam::sms::LogSms),
        tally_config::SmsProvider::Twilio { account_sid, auth_token, from, base_url } => {
            Arc::new(tally_iam::sms::TwilioSms {
                base_url: base_url.clone(),
                account_sid: account_sid.clone(),
                auth_token: auth_token.clone(),
                from: from.clone(),
            })
        }
        tally_config::SmsProvider::Webhook { url } => Arc::new(tally_iam::sms::WebhookSms { url: url.clone() }),
    }
}

/// The access model's settings, from the configuration.
pub fn access_settings(config: &Config, bound: Option<std::net::SocketAddr>) -> AccessSettings {
    let to_signed = |duration: std::time::Duration| {
        jiff::SignedDuration::try_from(duration).unwrap_or(jiff::SignedDuration::from_hours(24))
    };
    AccessSettings {
        regions: config.regions.iter().map(|region| region.name.clone()).collect(),
        invitation_lifetime: to_signed(config.invitations.lifetime),
        invitations_per_domain_per_hour: i64::try_from(config.invitations.per_domain_per_hour).unwrap_or(i64::MAX),
        org_deletion_grace: to_signed(config.retention.deleted_organization),
        project_deletion_grace: to_signed(config.retention.deleted_project),
        base_url: config.base_url(bound.unwrap_or(config.listen)),
        sessions: SessionPolicy {
            idle: to_signed(config.sessions.idle),
            absolute: to_signed(config.sessions.absolute),
        },
        throttle: tally_iam::throttle::ThrottlePolicy {
            max_failures_per_account: i64::try_from(config.auth.max_failures_per_account).unwrap_or(i64::MAX),
            max_failures_per_ip: i64::try_from(config.auth.max_failures_per_ip).unwrap_or(i64::MAX),
            window: to_signed(config.auth.lockout),
        },
        dns_resolver: config.dns_resolver,
        sso_public_only: config.sso_public_only,
    }
}

/// The layering rule: the server reaches the metadata store only through `tally-iam`'s
/// functions. It holds a [`Directory`] it cannot open, does not depend on `tally-store`, and
/// never reads the store out of an operation's context.
#[cfg(test)]
mod layering {
    fn sources(dir: &std::path::Path, found: &mut Vec<(String, String)>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                sources(&path, found);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                found.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap_or_default()));
            }
        }
    }

    #[test]
    fn the_server_reaches_the_store_only_through_tally_iam() {
        let manifest = include_str!("../Cargo.toml");
        assert!(!manifest.contains("tally-store"), "tally-server must not depend on tally-store");
        let mut found = Vec::new();
        sources(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut found);
        assert!(found.len() > 20, "the server's sources were not found");
        let mut offending = Vec::new();
        for (path, text) in &found {
            // This test names the patterns it looks for.
            let text = text.split("mod layering {").next().unwrap_or("");
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                let bad = ["tally_store", ".store.", ".store)", ".store;", ".store,"]
                    .iter()
                    .any(|pattern| code.contains(pattern));
                if bad {
                    offending.push(format!("{path}:{}: {}", n + 1, line.trim()));
                }
            }
        }
        assert!(offending.is_empty(), "the store reached around tally-iam:\n{}", offending.join("\n"));
    }
}
