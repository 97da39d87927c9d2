//! Binding, TLS and graceful shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;

use crate::AppState;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "cannot listen on {addr}: {source}; is another program using the port? choose another with --listen or `listen`"
    )]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot load TLS certificate {cert} and key {key}: {source}; `tls.cert` and `tls.key` must be PEM files")]
    Tls { cert: String, key: String, source: std::io::Error },
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
}

/// A server whose socket is bound but which is not yet accepting.
pub struct BoundServer {
    listener: std::net::TcpListener,
    local_addr: SocketAddr,
    tls: Option<RustlsConfig>,
    app: axum::Router,
    grace: Duration,
}

impl BoundServer {
    /// Binds the configured address and loads the TLS certificate if one is configured,
    /// so that both kinds of mistake surface before anything else starts.
    pub async fn bind(state: AppState) -> Result<BoundServer, ServeError> {
        let config = state.config().clone();
        let addr = config.listen;
        let listener = std::net::TcpListener::bind(addr).map_err(|source| ServeError::Bind { addr, source })?;
        let local_addr = listener.local_addr().map_err(|source| ServeError::Bind { addr, source })?;
        let tls = match &config.tls {
            None => None,
            Some(tls) => Some(RustlsConfig::from_pem_file(&tls.cert, &tls.key).await.map_err(|source| {
                ServeError::Tls { cert: tls.cert.display().to_string(), key: tls.key.display().to_string(), source }
            })?),
        };
        let state = state.with_bound_address(local_addr);
        Ok(BoundServer { listener, local_addr, tls, app: crate::app(state), grace: config.http.shutdown_grace })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes, then stops accepting and lets requests in
    /// flight finish (up to the configured grace period).
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> Result<(), ServeError> {
        let handle = Handle::new();
        let grace = self.grace;
        let stopper = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!(
                grace_secs = grace.as_secs(),
                "shutting down: no new connections, finishing requests in flight"
            );
            stopper.graceful_shutdown(Some(grace));
        });
        let service = self.app.into_make_service_with_connect_info::<SocketAddr>();
        match self.tls {
            None => {
                axum_server::from_tcp(self.listener).map_err(ServeError::Serve)?.handle(handle).serve(service).await
            }
            Some(tls) => {
                axum_server::from_tcp_rustls(self.listener, tls)
                    .map_err(ServeError::Serve)?
                    .handle(handle)
                    .serve(service)
                    .await
            }
        }
        .map_err(ServeError::Serve)
    }
}
