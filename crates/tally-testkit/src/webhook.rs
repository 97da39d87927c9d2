//! An HTTPS receiver for webhooks in tests: a self-signed certificate for 127.0.0.1 (its
//! PEM is the CA a client must trust), every request kept, and the first few answered 503
//! to exercise retries.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};

/// One request the receiver got, and what it answered.
#[derive(Debug, Clone)]
pub struct Received {
    pub authorization: Option<String>,
    pub body: serde_json::Value,
    pub status: u16,
}

pub struct WebhookReceiver {
    pub url: String,
    /// The receiver's certificate (PEM), to trust as a CA.
    pub cert_pem: String,
    received: Arc<Mutex<Vec<Received>>>,
    handle: axum_server::Handle<std::net::SocketAddr>,
}

impl WebhookReceiver {
    /// Listens on a free loopback port; the first `failures` requests get 503.
    pub async fn start(failures: usize) -> WebhookReceiver {
        let certificate = crate::tls::self_signed();
        let config = axum_server::tls_rustls::RustlsConfig::from_pem(
            certificate.cert_pem.clone().into_bytes(),
            certificate.key_pem.clone().into_bytes(),
        )
        .await
        .expect("TLS config");
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let kept = Arc::clone(&received);
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let kept = Arc::clone(&kept);
                async move {
                    let mut kept = kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                    let status = if kept.len() < failures { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
                    kept.push(Received {
                        authorization: headers
                            .get("authorization")
                            .and_then(|value| value.to_str().ok())
                            .map(str::to_string),
                        body: serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
                        status: status.as_u16(),
                    });
                    status
                }
            }),
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let handle = axum_server::Handle::new();
        let server = axum_server::from_tcp_rustls(listener, config).expect("listener").handle(handle.clone());
        tokio::spawn(async move { server.serve(app.into_make_service()).await });
        WebhookReceiver {
            url: format!("https://127.0.0.1:{}/hook", address.port()),
            cert_pem: certificate.cert_pem,
            received,
            handle,
        }
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// The requests answered 200.
    pub fn accepted(&self) -> Vec<Received> {
        self.received().into_iter().filter(|received| received.status == 200).collect()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}
